/**
 * valibot issues flattened to the problems the API answers with: `{ index, path, message }`, where
 * `index` is the event's position in the batch (null for a problem of the body or of query parameters) and
 * `path` is relative to that event ("topic", "payload") or names the body part / parameter ("events", "limit").
 * Does not decide HTTP statuses; the schemas' own messages already name the field.
 */
import * as v from "valibot"

/**
 * The message of an object schema, which serves two cases: the input is not an object (`<what> must be a JSON
 * object`), or a member is missing (`<key> is required`).
 * @category constructors
 */
export const objectMessage =
  (what: string) =>
  (issue: v.BaseIssue<unknown>): string => {
    const key = issue.path?.[issue.path.length - 1]?.key
    return key === undefined ? `${what} must be a JSON object` : `${String(key)} is required`
  }

/** One validation problem, as listed in error bodies (`issues`); the schema checks one received. @category models */
export const Problem = v.object(
  {
    index: v.pipe(
      v.nullable(v.pipe(v.number("index must be a number"), v.safeInteger("index must be an integer"), v.minValue(0))),
      v.metadata({ description: "The event's position in the batch; null for the body or a query parameter." })
    ),
    path: v.pipe(
      v.string("path must be a string"),
      v.metadata({ description: "Field path within the event, or the body part / parameter; empty for the root." })
    ),
    message: v.string("message must be a string")
  },
  objectMessage("problem")
)
/** @category models */
export interface Problem {
  readonly index: number | null
  readonly path: string
  readonly message: string
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/**
 * A valibot path as text: `payload.a`, `items[3]`, `payload["a b"]`; "" for the root.
 * @category constructors
 */
export const formatPath = (path: ReadonlyArray<{ readonly key: unknown }> | undefined): string => {
  if (path === undefined) return ""
  let out = ""
  for (const { key } of path) {
    if (typeof key === "number") out += `[${key}]`
    else if (typeof key === "string" && IDENTIFIER.test(key)) out += out === "" ? key : `.${key}`
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out
}

/**
 * The problems of one validation. Nested union issues are flattened, so every leaf problem is listed.
 * @category constructors
 */
export const toProblems = (
  issues: ReadonlyArray<v.BaseIssue<unknown>>,
  index: number | null = null,
  into: Array<Problem> = []
): Array<Problem> => {
  for (const issue of issues) {
    if (issue.issues !== undefined && issue.issues.length > 0) toProblems(issue.issues, index, into)
    else into.push({ index, path: formatPath(issue.path), message: issue.message })
  }
  return into
}

/**
 * One line per problem, for logs and error messages: `[2] topic: topic must not be empty`.
 * @category constructors
 */
export const summarizeProblems = (problems: ReadonlyArray<Problem>): string =>
  problems
    .map((p) => `${p.index === null ? "" : `[${p.index}] `}${p.path === "" ? "" : `${p.path}: `}${p.message}`)
    .join("\n")
