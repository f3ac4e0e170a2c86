/**
 * The dead-letter API's shapes, as valibot schemas with the type of the same name: `DeadLetter` (one entry as
 * GET /dead-letters lists it), `DeadLettersPage`, the request body of redrive and bulk discard
 * (`DeadLetterSelection`, parsed by `parseDeadLetterSelection`), their answers (`RedriveReply`, `DiscardReply`),
 * and the query parameters of the listing (`parseDeadLetterQuery`). Dead-letter ids are stream ids `<ms>-<seq>`, followed by `-<p>` for the log's partitions after the first.
 *
 * Checks shapes only; does not know where dead letters live or what redriving does (see core's `EventLog`).
 */
import * as v from "valibot"
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from "./EventQuery.ts"
import { type Problem, toProblems } from "./Issues.ts"
import { count, described, object, page, payload, text } from "./Shapes.ts"

/**
 * A dead-letter id: the stream id `<ms>-<seq>` in its partition's dead-letter store, then `-<p>` for partition p
 * from 1 to 1023, the highest a log can have (decimal, no leading zero); partition 0's ids carry no suffix. Group 1 is the stream id, group 2 the
 * partition when given.
 * @category models
 */
export const DEAD_LETTER_ID = /^([0-9]{1,20}-[0-9]{1,20})(?:-([1-9][0-9]{0,2}|10[01][0-9]|102[0-3]))?$/

/** Most ids one redrive or discard request may name. @category models */
export const MAX_SELECTED_IDS = 1000

const ids = (name: string, description: string) =>
  described(v.pipe(v.array(text(name), `${name} must be an array`), v.readonly()), description)

/**
 * One dead-lettered entry. Exactly one of `event` and `raw` is present, unless the entry's content was lost.
 * @category models
 */
export const DeadLetter = object("dead letter", {
  id: described(
    text("id"),
    "The dead-letter id (`<ms>-<seq>`, then `-<p>` for partition p ≥ 1): the cursor, and what redrive and discard take."
  ),
  stream: described(text("stream"), "The stream the entry was read from."),
  entry_id: described(text("entry_id"), "The entry's id in that stream when it was dead-lettered."),
  reason: described(text("reason"), "Why it was dead-lettered."),
  deliveries: described(count("deliveries"), "How many times it had been delivered (0 when unknown)."),
  dead_lettered_at: described(text("dead_lettered_at"), "When it was dead-lettered (UTC ISO)."),
  event: v.exactOptional(
    described(
      object("event", {
        topic: text("topic"),
        event_id: text("event_id"),
        timestamp: text("timestamp"),
        source: text("source"),
        payload: payload()
      }),
      "The event, when the entry decodes as one."
    )
  ),
  raw: v.exactOptional(
    described(
      v.pipe(v.record(v.string(), text("raw field"), "raw must be an object"), v.readonly()),
      "The entry's fields, each value base64, when it does not decode as an event."
    )
  )
})
/** @category models */
export type DeadLetter = v.InferOutput<typeof DeadLetter>

/** One page of GET /dead-letters. @category models */
export const DeadLettersPage = page(
  "dead letters page",
  "dead_letters",
  DeadLetter,
  text("next_after"),
  "The `after` of the next read: the last returned id, or the given `after` when the page is empty.",
  "One page of dead-lettered entries, oldest first."
)
/** @category models */
export type DeadLettersPage = v.InferOutput<typeof DeadLettersPage>

/** The answer to POST /dead-letters/redrive. @category models */
export const RedriveReply = object("redrive answer", {
  redriven: described(count("redriven"), "Entries appended back to the stream (and removed from the dead letters)."),
  missing: ids("missing", "Requested ids that are not dead letters (any more)."),
  skipped: ids("skipped", "Requested ids whose content was lost (nothing to append): discard them.")
})
/** @category models */
export type RedriveReply = v.InferOutput<typeof RedriveReply>

/** The answer to DELETE /dead-letters/{id} and POST /dead-letters/discard. @category models */
export const DiscardReply = object("discard answer", {
  discarded: described(count("discarded"), "Entries removed for good (counted in `discarded`)."),
  missing: ids("missing", "Requested ids that are not dead letters (any more).")
})
/** @category models */
export type DiscardReply = v.InferOutput<typeof DiscardReply>

const selectedIds = v.pipe(
  v.array(
    v.pipe(
      text("id"),
      v.regex(DEAD_LETTER_ID, "id must be a dead-letter id <ms>-<seq>[-<partition>]"),
      v.metadata({ pattern: DEAD_LETTER_ID.source })
    ),
    "ids must be an array"
  ),
  v.minLength(1, "ids must not be empty"),
  v.maxLength(MAX_SELECTED_IDS, `ids must hold at most ${MAX_SELECTED_IDS} ids`),
  v.readonly()
)

/** The request body of redrive and bulk discard: `{"ids": [...]}` or `{"all": true}`. @category models */
export const DeadLetterSelection = v.pipe(
  v.union(
    [
      v.strictObject({ ids: selectedIds }, 'body must be {"ids": [...]} or {"all": true}'),
      v.strictObject({ all: v.literal(true, "all must be true") }, 'body must be {"ids": [...]} or {"all": true}')
    ],
    'body must be {"ids": [...]} or {"all": true}'
  ),
  v.metadata({ description: `Some dead letters by id (1–${MAX_SELECTED_IDS}), or all of them.` })
)
/** @category models */
export type DeadLetterSelection = v.InferOutput<typeof DeadLetterSelection>

/** Parse a decoded JSON body as a `DeadLetterSelection`: the ids or `"all"`, or the problems. @category constructors */
export const parseDeadLetterSelection = (
  body: unknown
):
  | { readonly ok: true; readonly selection: ReadonlyArray<string> | "all" }
  | { readonly ok: false; readonly issues: Array<Problem> } => {
  const result = v.safeParse(DeadLetterSelection, body)
  if (!result.success) return { ok: false, issues: toProblems(result.issues, null) }
  return { ok: true, selection: "all" in result.output ? "all" : result.output.ids }
}

/** Decoded GET /dead-letters parameters; `after` absent: from the oldest. @category models */
export interface DeadLetterQuery {
  readonly after?: string
  readonly limit: number
}

const DIGITS = /^[0-9]+$/

/**
 * Parse GET /dead-letters parameters: `after` (a dead-letter id, exclusive) and `limit` (integer 1–1000, default
 * 100). Unknown and repeated parameters are refused, by name; every problem is listed.
 * @category constructors
 */
export const parseDeadLetterQuery = (
  params: URLSearchParams
): { readonly ok: true; readonly query: DeadLetterQuery } | { readonly ok: false; readonly issues: Array<Problem> } => {
  const issues: Array<Problem> = []
  const problem = (path: string, message: string) => issues.push({ index: null, path, message })
  for (const name of new Set(params.keys())) {
    if (name !== "after" && name !== "limit") problem(name, `unknown query parameter "${name}" (allowed: after, limit)`)
    else if (params.getAll(name).length > 1) problem(name, `${name} must be given at most once`)
  }
  const after = params.get("after") ?? undefined
  if (after !== undefined && !DEAD_LETTER_ID.test(after))
    problem(
      "after",
      `after must be a dead-letter id <ms>-<seq>[-<partition>] (got ${JSON.stringify(after.slice(0, 50))})`
    )
  const rawLimit = params.get("limit")
  const limit = rawLimit === null ? DEFAULT_PAGE_LIMIT : DIGITS.test(rawLimit) ? Number(rawLimit) : Number.NaN
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT)
    problem("limit", `limit must be an integer from 1 to ${MAX_PAGE_LIMIT} (got ${JSON.stringify(rawLimit)})`)
  if (issues.length > 0) return { ok: false, issues }
  return { ok: true, query: after === undefined ? { limit } : { after, limit } }
}
