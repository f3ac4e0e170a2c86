/**
 * The query parameters of GET /events: `topic` (optional, the rules of `Topic`), `after` (integer ≥ 0,
 * default 0) or `since` (an ISO time with a zone; not both), and `limit` (integer 1–1000, default 100). Integers
 * are parsed strictly: decimal digits only, so "1.5", "1e3", "-1", "+1", " 1" and "" are refused. Unknown and
 * repeated parameters are refused, by name. GET /events/stream takes the same parameters without `limit`
 * (`parseStreamQuery`). GET /topics takes `after` (a topic name) and the same `limit` (`parseTopicQuery`).
 * Does not read the store, resolve `since` to a cursor, or decide what `after` means without a topic (a storage
 * position, see core `ReadQuery`).
 */
import * as v from "valibot"
import { Timestamp, Topic } from "./Event.ts"
import { type Problem, toProblems } from "./Issues.ts"

/** The largest `limit`. */
export const MAX_PAGE_LIMIT = 1000
/** The `limit` when none is given. */
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
  since: v.optional(
    v.pipe(
      Timestamp,
      v.metadata({
        description:
          "Start at the first event received at or after this time (ISO 8601 with a zone) instead of `after`; not with `after`."
      })
    )
  ),
  limit: v.optional(integer("limit", 1, MAX_PAGE_LIMIT, `At most this many events; default ${DEFAULT_PAGE_LIMIT}.`))
}
const NAMES: ReadonlyArray<string> = Object.keys(entries)
const { limit: _limit, ...streamEntries } = entries
const STREAM_NAMES: ReadonlyArray<string> = Object.keys(streamEntries)

/** The decoding schema of the parameters, each a string when present. @category models */
export const EventQuery = v.object(entries, "query parameters must be an object")

/** The decoding schema of GET /events/stream's parameters (those of GET /events without `limit`). @category models */
export const StreamQuery = v.object(streamEntries, "query parameters must be an object")

/**
 * Decoded GET /events parameters; `topic` is absent when not given, `since` (normalized UTC ISO) only when
 * given, and then `after` is 0 and stands for nothing: the caller resolves `since` to the cursor. @category models
 */
export interface EventQuery {
  readonly topic?: Topic
  readonly after: number
  readonly since?: string
  readonly limit: number
}

/** Decoded GET /events/stream parameters (see `EventQuery`). @category models */
export type StreamQuery = Omit<EventQuery, "limit">

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
export const parseEventQuery = (input: EventQueryInput): EventQueryResult => parseWith(EventQuery, NAMES, input)

/**
 * Parse GET /events/stream parameters, as `parseEventQuery` does (no `limit`).
 * @category constructors
 */
export const parseStreamQuery = (
  input: EventQueryInput
): { readonly ok: true; readonly query: StreamQuery } | { readonly ok: false; readonly issues: Array<Problem> } => {
  const parsed = parseWith(StreamQuery, STREAM_NAMES, input)
  if (!parsed.ok) return parsed
  const { limit: _, ...query } = parsed.query
  return { ok: true, query }
}

// The parameters as a record of single strings; unknown and repeated names are problems.
const collect = (NAMES: ReadonlyArray<string>, input: EventQueryInput, issues: Array<Problem>) => {
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
  return record
}

const parseWith = (
  schema: typeof EventQuery | typeof StreamQuery,
  NAMES: ReadonlyArray<string>,
  input: EventQueryInput
): EventQueryResult => {
  const issues: Array<Problem> = []
  const record = collect(NAMES, input, issues)
  if (record.after !== undefined && record.since !== undefined) {
    issues.push({ index: null, path: "since", message: "give after or since, not both" })
  }
  const result = v.safeParse(schema, record)
  if (!result.success) toProblems(result.issues, null, issues)
  if (issues.length > 0 || !result.success) return { ok: false, issues }
  const { topic, after = 0, since } = result.output
  const limit = "limit" in result.output ? (result.output.limit ?? DEFAULT_PAGE_LIMIT) : DEFAULT_PAGE_LIMIT
  return {
    ok: true,
    query: { ...(topic === undefined ? {} : { topic }), after, ...(since === undefined ? {} : { since }), limit }
  }
}

const topicEntries = {
  after: v.optional(
    v.pipe(
      v.string("after must be a string"),
      v.maxLength(255, "after must be at most 255 characters (a topic name)"),
      v.metadata({ description: "Return topics whose name sorts after this one (the previous page's next_after)." })
    )
  ),
  limit: v.optional(integer("limit", 1, MAX_PAGE_LIMIT, `At most this many topics; default ${DEFAULT_PAGE_LIMIT}.`))
}
const TOPIC_NAMES: ReadonlyArray<string> = Object.keys(topicEntries)

/** The decoding schema of GET /topics' parameters, each a string when present. @category models */
export const TopicQuery = v.object(topicEntries, "query parameters must be an object")

/** Decoded GET /topics parameters: `after` is "" (before every name) when not given. @category models */
export interface TopicQuery {
  readonly after: string
  readonly limit: number
}

/**
 * Parse GET /topics parameters (`after`: a topic name cursor, `limit`: 1–1000, default 100), listing every
 * problem as `parseEventQuery` does.
 * @category constructors
 */
export const parseTopicQuery = (
  input: EventQueryInput
): { readonly ok: true; readonly query: TopicQuery } | { readonly ok: false; readonly issues: Array<Problem> } => {
  const issues: Array<Problem> = []
  const record = collect(TOPIC_NAMES, input, issues)
  const result = v.safeParse(TopicQuery, record)
  if (!result.success) toProblems(result.issues, null, issues)
  if (issues.length > 0 || !result.success) return { ok: false, issues }
  return { ok: true, query: { after: result.output.after ?? "", limit: result.output.limit ?? DEFAULT_PAGE_LIMIT } }
}
