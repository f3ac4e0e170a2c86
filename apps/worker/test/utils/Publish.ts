/**
 * Sending a workload through the api with the project's reference client (`createPublisher` of @agg/publisher,
 * which retries with backoff and resends the same events), in batches, several requests at once.
 *
 * Deliberately does not check what was stored: Verify.ts does that once the workers have drained the stream.
 */
import { createPublisher, type Stats } from "@agg/publisher"
import { Data, Effect } from "effect"
import type { WireEvent } from "./Events.ts"
import { getJson } from "./Http.ts"

/** A publish that failed for good (retries exhausted or a non-retryable answer). */
export class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly message: string }> {}

/** What a `publishAll` did. */
export interface PublishSummary {
  /** Events the api acknowledged with a 2xx. */
  readonly accepted: number
  /** Retries the client made. */
  readonly retries: number
  /** Failed attempts the server may have acted on anyway (each may have appended its events once more). */
  readonly ambiguousAttempts: number
  /** Events in those ambiguous attempts: the most `received` may exceed `accepted` by. */
  readonly ambiguousEvents: number
}

/**
 * Publish `events` in batches of `batch`, `concurrency` requests in flight, each retried by the client
 * (`maxAttempts`, default 8; raise it for tests that take the api down for a while).
 */
export const publishAll = (
  apiUrl: string,
  events: ReadonlyArray<WireEvent>,
  options: { readonly batch: number; readonly concurrency: number; readonly maxAttempts?: number }
): Effect.Effect<PublishSummary, PublishFailed> =>
  Effect.gen(function* () {
    let retries = 0
    const publisher = createPublisher({
      url: apiUrl,
      retry: { maxAttempts: options.maxAttempts ?? 8, baseDelayMs: 50, maxDelayMs: 1_000 },
      timeoutMs: 20_000,
      onRetry: () => {
        retries++
      }
    })
    const batches: Array<ReadonlyArray<WireEvent>> = []
    for (let i = 0; i < events.length; i += options.batch) batches.push(events.slice(i, i + options.batch))
    const results = yield* Effect.forEach(
      batches,
      (batch) =>
        Effect.tryPromise({
          try: (signal) => publisher.publish(batch, { signal }),
          catch: (cause) => new PublishFailed({ message: `publish failed: ${String(cause)}` })
        }).pipe(Effect.map((result) => ({ result, size: batch.length }))),
      { concurrency: options.concurrency }
    )
    return {
      accepted: results.reduce((n, { result }) => n + result.accepted, 0),
      retries,
      ambiguousAttempts: results.reduce((n, { result }) => n + result.ambiguousAttempts, 0),
      ambiguousEvents: results.reduce((n, { result, size }) => n + result.ambiguousAttempts * size, 0)
    }
  })

/** GET /stats of the api. */
export const getStats = (apiUrl: string) => getJson<Stats>(`${apiUrl}/stats`)
