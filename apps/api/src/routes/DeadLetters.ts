/**
 * The dead letters of the stream: entries the workers moved aside instead of committing (undecodable, refused
 * by the store, delivered too often).
 *
 * - GET /dead-letters?after=&limit=: a page, oldest first (`after`: the previous page's `next_after`, a
 *   dead-letter id; limit 1–1000, default 100), each with its reason, delivery count, time, and the event or,
 *   for an entry that does not decode, its raw fields in base64.
 * - POST /dead-letters/redrive `{"ids": [...]}` or `{"all": true}`: append them back to the stream once their
 *   cause is fixed; one that fails again is dead-lettered again.
 * - DELETE /dead-letters/{id}, POST /dead-letters/discard `{"ids": [...]}` or `{"all": true}`: remove for good,
 *   counted in `discarded`.
 *
 * Redrive and discard are admin routes (an admin key when keys are configured). In embedded mode there is no
 * stream: the listing is empty and redrive/discard answer 404 `no_dead_letter_stream`. The moves and their
 * counters are the log's (`EventLog`); this module parses, checks and counts them in the metrics.
 */
import { EventLog } from "@agg/core"
import {
  DEAD_LETTER_ID,
  type DeadLetter,
  type DeadLettersPage,
  type DiscardReply,
  parseDeadLetterQuery,
  parseDeadLetterSelection,
  type RedriveReply
} from "@agg/schema"
import { Effect, Option } from "effect"
import { parseJson, requireJson } from "../Body.ts"
import {
  DeadLetterNotFound,
  fromDependency,
  type HttpError,
  InvalidBody,
  InvalidQuery,
  MalformedBody,
  NoDeadLetterStream
} from "../HttpErrors.ts"
import type { MetricsRegistry } from "../Metrics.ts"
import { json, type Reply, type Route } from "../Route.ts"

/** Enough for the largest selection (1000 ids of up to 41 characters, quoted, with commas). */
const MAX_SELECTION_BYTES = 64 * 1024

const toBody = (d: EventLog.DeadLetterEntry): DeadLetter => ({
  id: d.id,
  stream: d.entry.stream,
  entry_id: d.entry.id,
  reason: d.reason,
  deliveries: d.deliveries,
  dead_lettered_at: d.deadLetteredAt,
  ...(d.content._tag === "Event" ? { event: d.content.event } : {}),
  ...(d.content._tag === "Undecodable" ? { raw: d.content.raw } : {})
})

// The log, or 404 in embedded mode.
const requireLog = Effect.flatMap(Effect.serviceOption(EventLog.EventLog), (log) =>
  Option.isSome(log)
    ? Effect.succeed(log.value)
    : Effect.fail(
        new NoDeadLetterStream({ message: "embedded mode has no stream and no dead letters to redrive or discard" })
      )
)

const selection = (body: Buffer) => {
  const decoded = parseJson(body)
  if (!decoded.ok) return Effect.fail(new MalformedBody({ message: decoded.message }))
  const parsed = parseDeadLetterSelection(decoded.value)
  return parsed.ok
    ? Effect.succeed(parsed.selection)
    : Effect.fail(
        new InvalidBody({ message: 'the body must be {"ids": [...]} or {"all": true}', issues: parsed.issues })
      )
}

// An admin POST that takes a selection body (checked first) and acts on the log (404 in embedded mode).
const selectionRoute = (
  path: string,
  act: (log: EventLog.EventLog["Service"], ids: ReadonlyArray<string> | "all") => Effect.Effect<Reply, HttpError>
): Route<never> => ({
  method: "POST",
  path,
  auth: true,
  admin: true,
  body: { maxBytes: MAX_SELECTION_BYTES, precheck: requireJson },
  handler: ({ body }) =>
    Effect.gen(function* () {
      const ids = yield* selection(body)
      const log = yield* requireLog
      return yield* act(log, ids)
    })
})

/** @category constructors */
export const routes = (metrics: MetricsRegistry): ReadonlyArray<Route<never>> => [
  {
    method: "GET",
    path: "/dead-letters",
    auth: true,
    handler: ({ query }) =>
      Effect.gen(function* () {
        const parsed = parseDeadLetterQuery(new URLSearchParams(query))
        if (!parsed.ok) return yield* new InvalidQuery({ message: "invalid query parameters", issues: parsed.issues })
        const log = yield* Effect.serviceOption(EventLog.EventLog)
        const after = parsed.query.after ?? "0-0"
        if (Option.isNone(log)) return json(200, { dead_letters: [], next_after: after } satisfies DeadLettersPage)
        const page = yield* log.value.deadLetters(parsed.query).pipe(Effect.mapError(fromDependency))
        return json(200, {
          dead_letters: page.entries.map(toBody),
          next_after: page.nextAfter
        } satisfies DeadLettersPage)
      })
  },
  selectionRoute("/dead-letters/redrive", (log, ids) =>
    Effect.gen(function* () {
      const outcome = yield* log.redrive(ids).pipe(Effect.mapError(fromDependency))
      metrics.recordRedriven(outcome.count)
      yield* Effect.logInfo("dead letters redriven", { redriven: outcome.count, skipped: outcome.skipped.length })
      return json(200, {
        redriven: outcome.count,
        missing: outcome.missing,
        skipped: outcome.skipped
      } satisfies RedriveReply)
    })
  ),
  selectionRoute("/dead-letters/discard", (log, ids) =>
    Effect.gen(function* () {
      const outcome = yield* log.discard(ids).pipe(Effect.mapError(fromDependency))
      metrics.recordDiscarded(outcome.count)
      yield* Effect.logInfo("dead letters discarded", { discarded: outcome.count })
      return json(200, { discarded: outcome.count, missing: outcome.missing } satisfies DiscardReply)
    })
  ),
  {
    method: "DELETE",
    path: "/dead-letters/:id",
    auth: true,
    admin: true,
    handler: ({ params }) =>
      Effect.gen(function* () {
        const id = params["id"] ?? ""
        const log = yield* requireLog
        const notFound = new DeadLetterNotFound({ message: `no dead letter ${JSON.stringify(id.slice(0, 50))}` })
        if (!DEAD_LETTER_ID.test(id)) return yield* notFound
        const outcome = yield* log.discard([id]).pipe(Effect.mapError(fromDependency))
        if (outcome.count === 0) return yield* notFound
        metrics.recordDiscarded(outcome.count)
        yield* Effect.logInfo("dead letter discarded", { id })
        return json(200, { discarded: outcome.count, missing: [] } satisfies DiscardReply)
      })
  }
]
