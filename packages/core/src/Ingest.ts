/**
 * The ingest use case behind POST /publish: take a request's validated events and make them durable before
 * answering. Two shapes, one service:
 * - direct (embedded): commit through `GroupCommit` into the `EventStore`; the answer says how many were new;
 * - queued (distributed): append to the `EventLog`; workers commit later (see `Consumer`).
 *
 * Validation, limits and HTTP status mapping are the caller's job; this module only reports why it could not
 * accept (`IngestError.reason`) and whether trying again may help (`retryable`).
 */
import type { Event } from "@agg/schema"
import { Context, Effect, Layer, Schema } from "effect"
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

/** @category services */
export class Ingest extends Context.Service<
  Ingest,
  {
    /** Which pipeline is behind `publish`. */
    readonly mode: "direct" | "queued"
    /** Make the events durable (committed, or in the log) and say how many were accepted. */
    readonly publish: (events: ReadonlyArray<Event>) => Effect.Effect<PublishResult, IngestError>
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

/**
 * Queued mode: append to the `EventLog` in context (one atomic append per request); answered once appended.
 * @category layers
 */
export const layerQueued: Layer.Layer<Ingest, never, EventLog> = Layer.effect(
  Ingest,
  Effect.gen(function* () {
    const log = yield* EventLog
    return Ingest.of({
      mode: "queued",
      publish: (events) =>
        log.append(events).pipe(
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
