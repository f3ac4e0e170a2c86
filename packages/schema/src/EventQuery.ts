/**
 * The query parameters of GET /events (SPEC §4): `topic` (optional, the rules of `Topic`), `after` (integer ≥ 0,
 * default 0) and `limit` (integer 1–1000, default 100). Integers are parsed strictly: decimal digits only, so
 * "1.5", "1e3", "-1", "+1", " 1" and "" are refused. Unknown and repeated parameters are refused, by name.
 * Does not read the store or decide what `after` means without a topic (a storage position, see core `ReadQuery`).
 */
import * as v from "valibot"
import { Topic } from "./Event.ts"
import { type Problem, toProblems } from "./Issues.ts"

/** The largest `limit` (SPEC §4). */
export const MAX_PAGE_LIMIT = 1000
/** The `limit` when none is given (SPEC §4). */
export const DEFAULT_PAGE_LIMIT = 100

const DIGITS = /^[0-9]+$/

const integer = (name: string, min: number, max: number, description: string) =>
  v.pipe(
    v.string(`${name} must be a string`),
    v.rawTransform<string, number>(({ dataset, addIssue, NEVER }) => {
      const s = dataset.value
      const n = DIGITS.test(s) ? Number(s) : Number.NaN
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`
        addIssue({ message: `${name} must be an integer ${range} (got ${JSON.stringify(s)})` })
        return NEVER
      }
      return n
    }),
    // Describes the decoded value for the JSON Schema export (typeMode "output" starts at this schema).
    v.number(),
    v.metadata({ type: "integer", minimum: min, maximum: max, description })
  )

const entries = {
  topic: v.optional(
    v.pipe(Topic, v.metadata({ description: "Only this topic's events, in offset order. Without it: all topics." }))
  ),
  after: v.optional(
    integer(
      "after",
      0,
      Number.MAX_SAFE_INTEGER,
      "Return events after this position (the previous page's next_after); default 0."
    )
  ),
  limit: v.optional(integer("limit", 1, MAX_PAGE_LIMIT, `At most this many events; default ${DEFAULT_PAGE_LIMIT}.`))
}
const NAMES: ReadonlyArray<string> = Object.keys(entries)

/** The decoding schema of the three parameters, each a string when present. @category models */
export const EventQuery = v.object(entries, "query parameters must be an object")

/** Decoded GET /events parameters; `topic` is absent when not given. Fits core's `ReadQuery`. @category models */
export interface EventQuery {
  readonly topic?: Topic
  readonly after: number
  readonly limit: number
}

/** Query parameters as a server hands them over: URLSearchParams, or a record (repeated keys as arrays). */
export type EventQueryInput = URLSearchParams | { readonly [name: string]: string | ReadonlyArray<string> | undefined }

/** The outcome of parsing GET /events parameters. @category models */
export type EventQueryResult =
  | { readonly ok: true; readonly query: EventQuery }
  | { readonly ok: false; readonly issues: Array<Problem> }

/**
 * Parse GET /events parameters. Every problem is listed (`index` null, `path` the parameter name).
 * @category constructors
 */
export const parseEventQuery = (input: EventQueryInput): EventQueryResult => {
  const issues: Array<Problem> = []
  const record: Record<string, string> = {}
  const add = (name: string, values: ReadonlyArray<string>) => {
    if (!NAMES.includes(name)) {
      issues.push({
        index: null,
        path: name,
        message: `unknown query parameter "${name}" (allowed: ${NAMES.join(", ")})`
      })
    } else if (values.length > 1) {
      issues.push({ index: null, path: name, message: `${name} must be given at most once` })
    } else if (values.length === 1) {
      record[name] = values[0]!
    }
  }
  if (input instanceof URLSearchParams) {
    for (const name of new Set(input.keys())) add(name, input.getAll(name))
  } else {
    for (const [name, value] of Object.entries(input)) {
      if (value !== undefined) add(name, typeof value === "string" ? [value] : value)
    }
  }
  const result = v.safeParse(EventQuery, record)
  if (!result.success) toProblems(result.issues, null, issues)
  if (issues.length > 0 || !result.success) return { ok: false, issues }
  const { topic, after = 0, limit = DEFAULT_PAGE_LIMIT } = result.output
  return { ok: true, query: topic === undefined ? { after, limit } : { topic, after, limit } }
}
