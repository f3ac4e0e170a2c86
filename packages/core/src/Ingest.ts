/**
 * The ingest use case behind POST /publish: take a request's validated events and make them durable before
 * answering. Two shapes, one service:
 * - direct (embedded): commit through `GroupCommit` into the `EventStore`; the answer says how many were new;
 * - queued (distributed): append to the `EventLog`; workers commit later (see `Consumer`). Backpressure: while the
 *   log's backlog (lag + pending) is above a high-water mark, publishing is refused as `Overloaded` (503 +
 *   Retry-After) before the broker runs out of memory (Redis runs with noeviction: a full Redis would refuse every
 *   write, reads and acks included). The backlog is measured by a fiber of the layer every `checkEvery`, never on
 *   the publish path, so a publish costs no extra broker round trip; the decision lags reality by at most that.
 *
 * Validation, limits and HTTP status mapping are the caller's job; this module only reports why it could not
 * accept (`IngestError.reason`) and whether trying again may help (`retryable`).
 */
import type { Event } from "@agg/schema"
import { Context, Duration, Effect, Layer, Option, Schedule, Schema } from "effect"
import { EventLog } from "./EventLog.ts"
import type * as EventStore from "./EventStore.ts"
import * as GroupCommit from "./GroupCommit.ts"

/**
 * Why events were not accepted. `Overloaded`: too much is waiting (503 + Retry-After); `Unavailable`: the store
 * or log failed; `Closed`: the service is shutting down. Nothing of the request was accepted in any case
 * (direct mode) or nothing may be assumed (queued mode: a failed append is atomic).
 * @category errors
 */
export class IngestError extends Schema.TaggedError<IngestError>()("IngestError", {
  reason: Schema.Literals(["Overloaded", "Unavailable", "Closed"]),
  retryable: Schema.Boolean,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** The answer to an accepted request. `unique`/`duplicates` only in direct mode (conflicts count as duplicates). @category models */
export interface PublishResult {
  readonly accepted: number
  readonly unique?: number
  readonly duplicates?: number
}

/**
 * The queued pipeline's backlog against its high-water mark, as last measured.
 * @category models
 */
export interface Backlog {
  /** Entries appended and not yet processed (lag + pending); undefined before the first measurement or while the log cannot say. */
  readonly size: number | undefined
  /** The high-water mark: above it, publishing is refused. */
  readonly max: number
  /** Whether publishing is refused now. */
  readonly refusing: boolean
}

/** @category services */
export class Ingest extends Context.Service<
  Ingest,
  {
    /** Which pipeline is behind `publish`. */
    readonly mode: "direct" | "queued"
    /** Make the events durable (committed, or in the log) and say how many were accepted. */
    readonly publish: (events: ReadonlyArray<Event>) => Effect.Effect<PublishResult, IngestError>
    /** The backlog as last measured (queued mode); none in direct mode, which has no backlog. Costs no IO. */
    readonly backlog: Effect.Effect<Option.Option<Backlog>>
  }
>()("@agg/core/Ingest") {}

const fromGroupCommitError = (
  error: GroupCommit.GroupCommitOverloaded | GroupCommit.GroupCommitClosed | EventStore.EventStoreError
): IngestError => {
  switch (error._tag) {
    case "GroupCommitOverloaded":
      return new IngestError({
        reason: "Overloaded",
        retryable: true,
        message: `too many events waiting to commit (${error.waiting} of ${error.capacity})`
      })
    case "GroupCommitClosed":
      return new IngestError({ reason: "Closed", retryable: true, message: "the service is shutting down" })
    case "EventStoreError":
      return new IngestError({
        reason: "Unavailable",
        retryable: error.retryable,
        message: `store ${error.operation} failed: ${error.message}`,
        cause: error
      })
  }
}

/**
 * Direct mode: a group commit over the `EventStore` in context; answered after commit. Closing the layer drains
 * the group commit (every accepted request is committed and answered).
 * @category layers
 */
export const layerDirect = (
  options: GroupCommit.Options = {}
): Layer.Layer<Ingest, GroupCommit.GroupCommitConfigError, EventStore.EventStore> =>
  Layer.effect(
    Ingest,
    Effect.gen(function* () {
      const group = yield* GroupCommit.fromStore(options)
      return Ingest.of({
        mode: "direct",
        backlog: Effect.succeed(Option.none()),
        publish: (events) =>
          group.submit(events.map((event) => ({ event }))).pipe(
            Effect.map((outcomes) => {
              const unique = outcomes.filter((o) => o._tag === "New").length
              return { accepted: events.length, unique, duplicates: events.length - unique }
            }),
            Effect.mapError(fromGroupCommitError)
          )
      })
    })
  )

/** Options of `layerQueuedWith`. @category models */
export interface QueuedOptions {
  /** The high-water mark: publishing is refused while the backlog (lag + pending) is above it. Default 1,000,000. */
  readonly maxBacklog?: number
  /** How often the backlog is measured (one `EventLog.stats` call each time). Default 1 second. */
  readonly checkEvery?: Duration.Input
}

/** Bad `QueuedOptions`. @category errors */
export class IngestConfigError extends Schema.TaggedError<IngestConfigError>()("IngestConfigError", {
  message: Schema.String
}) {}

/**
 * Queued mode: append to the `EventLog` in context (one atomic append per request); answered once appended. While
 * the backlog is above `maxBacklog`, refused as `Overloaded` (see the module's header).
 * @category layers
 */
export const layerQueuedWith = (options: QueuedOptions = {}): Layer.Layer<Ingest, IngestConfigError, EventLog> =>
  Layer.effect(
    Ingest,
    Effect.gen(function* () {
      const log = yield* EventLog
      const max = options.maxBacklog ?? 1_000_000
      if (!Number.isSafeInteger(max) || max < 1)
        return yield* new IngestConfigError({ message: `maxBacklog must be a positive integer, got ${max}` })
      const every = Duration.fromInput(options.checkEvery ?? Duration.seconds(1))
      if (Option.isNone(every) || !(Duration.toMillis(every.value) > 0))
        return yield* new IngestConfigError({ message: "checkEvery must be a positive duration" })
      let size: number | undefined
      // Measured in the layer's own fiber, for as long as the layer lives; a failure leaves the size unknown (the
      // append itself then tells whether the log can take events).
      yield* log.stats.pipe(
        Effect.match({
          onFailure: () => undefined,
          onSuccess: (stats) => stats.lag + stats.pending
        }),
        Effect.tap((measured) =>
          Effect.sync(() => {
            size = measured
          })
        ),
        Effect.repeat(Schedule.spaced(every.value)),
        Effect.forkScoped
      )
      const refusing = () => size !== undefined && size > max
      return Ingest.of({
        mode: "queued",
        backlog: Effect.sync(() => Option.some({ size, max, refusing: refusing() })),
        publish: (events) =>
          refusing()
            ? Effect.fail(
                new IngestError({
                  reason: "Overloaded",
                  retryable: true,
                  message: `the backlog (${size} entries) is above its high-water mark (${max})`
                })
              )
            : log.append(events).pipe(
                Effect.as({ accepted: events.length }),
                Effect.mapError(
                  (error) =>
                    new IngestError({
                      reason: "Unavailable",
                      retryable: error.retryable,
                      message: `log ${error.operation} failed: ${error.message}`,
                      cause: error
                    })
                )
              )
      })
    })
  )

/**
 * Queued mode with the default high-water mark and measuring interval (`layerQueuedWith`).
 * @category layers
 */
export const layerQueued: Layer.Layer<Ingest, never, EventLog> = Layer.orDie(layerQueuedWith())
