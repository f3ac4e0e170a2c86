/**
 * Sending a workload through the api as a well-behaved client does, in batches, several requests at once: a failed
 * request is resent unchanged (same events, so the api's dedup makes that safe) after the answer's Retry-After or a
 * capped, jittered exponential backoff, and the failed attempts the api may have acted on anyway are counted.
 *
 * Deliberately does not check what was stored: Verify.ts does that once the workers have drained the stream. Not
 * the publisher app's client: the worker's tests rely on the api's HTTP contract only.
 */
import type { EventsPage, StatsBody } from "@agg/schema"
import { Clock, Data, Effect } from "effect"
import type { WireEvent } from "./Events.ts"
import { getJson } from "./Http.ts"

/** The api's answers the tests read (GET /stats, GET /events), as the wire contract declares them. */
export type { EventsPage, StatsBody as Stats }

/** A publish that failed for good (retries exhausted or a non-retryable answer). */
export class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly message: string }> {}

const BASE_DELAY_MS = 50
const MAX_DELAY_MS = 1_000
const MAX_RETRY_AFTER_MS = 60_000
const TIMEOUT_MS = 20_000

/** One attempt's outcome: the api's answer, or none (refused, reset or timed out). */
type Attempt =
  | { readonly _tag: "Answer"; readonly status: number; readonly text: string; readonly retryAfter: string | null }
  | { readonly _tag: "NoAnswer"; readonly reason: string }

const post = (url: string, body: string, onAnswer?: (status: number, headers: Headers) => void) =>
  Effect.promise(async (signal): Promise<Attempt> => {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)])
      })
      onAnswer?.(response.status, response.headers)
      const text = await response.text()
      return { _tag: "Answer", status: response.status, text, retryAfter: response.headers.get("retry-after") }
    } catch (cause) {
      return { _tag: "NoAnswer", reason: cause instanceof Error ? cause.message : String(cause) }
    }
  })

/**
 * POST one batch until a 2xx, a final answer (4xx other than 429) or `maxAttempts`. Retried: no answer, 5xx and
 * 429. Ambiguous (the api may have appended the events anyway): no answer, and 5xx other than 503.
 */
const publishBatch = (
  url: string,
  batch: ReadonlyArray<WireEvent>,
  maxAttempts: number,
  onAnswer?: (status: number, headers: Headers) => void
) =>
  Effect.gen(function* () {
    const body = JSON.stringify(batch)
    let ambiguousAttempts = 0
    for (let attempt = 1; ; attempt++) {
      const result = yield* post(url, body, onAnswer)
      if (result._tag === "Answer" && result.status >= 200 && result.status < 300) {
        const { accepted } = JSON.parse(result.text) as { readonly accepted: number }
        return { accepted, retries: attempt - 1, ambiguousAttempts }
      }
      const reason = result._tag === "Answer" ? `${result.status} ${result.text.slice(0, 300)}` : result.reason
      if (result._tag === "Answer" && result.status !== 429 && result.status < 500)
        return yield* new PublishFailed({ message: `publish failed: ${reason}` })
      if (attempt >= maxAttempts)
        return yield* new PublishFailed({ message: `publish failed after ${attempt} attempts: ${reason}` })
      if (result._tag === "NoAnswer" || (result.status >= 500 && result.status !== 503)) ambiguousAttempts++
      const retryAfter = result._tag === "Answer" && result.retryAfter !== null ? Number(result.retryAfter) : Number.NaN
      yield* Effect.sleep(
        Number.isFinite(retryAfter)
          ? Math.min(MAX_RETRY_AFTER_MS, retryAfter * 1000)
          : Math.floor(Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1)))
      )
    }
  })

/** What a `publishAll` did. */
export interface PublishSummary {
  /** Events the api acknowledged with a 2xx. */
  readonly accepted: number
  /** Retries made. */
  readonly retries: number
  /** Failed attempts the server may have acted on anyway (each may have appended its events once more). */
  readonly ambiguousAttempts: number
  /** Events in those ambiguous attempts: the most `received` may exceed `accepted` by. */
  readonly ambiguousEvents: number
}

/**
 * Publish `events` in batches of `batch`, `concurrency` requests in flight, each retried as described above
 * (`maxAttempts`, default 8; raise it for tests that take the api down for a while). With `batchIntervalMs`,
 * batch i is not sent before i × that interval from the start: a steady rate, so a fault can hit mid-run.
 * `onAnswer` sees every HTTP answer of every attempt (status and headers), e.g. to count 503s.
 */
export const publishAll = (
  apiUrl: string,
  events: ReadonlyArray<WireEvent>,
  options: {
    readonly batch: number
    readonly concurrency: number
    readonly maxAttempts?: number
    readonly batchIntervalMs?: number
    readonly onAnswer?: (status: number, headers: Headers) => void
  }
): Effect.Effect<PublishSummary, PublishFailed> =>
  Effect.gen(function* () {
    const maxAttempts = options.maxAttempts ?? 8
    const batches: Array<ReadonlyArray<WireEvent>> = []
    for (let i = 0; i < events.length; i += options.batch) batches.push(events.slice(i, i + options.batch))
    const started = yield* Clock.currentTimeMillis
    const interval = options.batchIntervalMs ?? 0
    const results = yield* Effect.forEach(
      batches,
      (batch, i) =>
        Effect.gen(function* () {
          const wait = started + i * interval - (yield* Clock.currentTimeMillis)
          if (wait > 0) yield* Effect.sleep(wait)
        }).pipe(
          Effect.andThen(publishBatch(`${apiUrl}/publish`, batch, maxAttempts, options.onAnswer)),
          Effect.map((result) => ({ result, size: batch.length }))
        ),
      { concurrency: options.concurrency }
    )
    return {
      accepted: results.reduce((n, { result }) => n + result.accepted, 0),
      retries: results.reduce((n, { result }) => n + result.retries, 0),
      ambiguousAttempts: results.reduce((n, { result }) => n + result.ambiguousAttempts, 0),
      ambiguousEvents: results.reduce((n, { result, size }) => n + result.ambiguousAttempts * size, 0)
    }
  })

/** GET /stats of the api. */
export const getStats = (apiUrl: string) => getJson<StatsBody>(`${apiUrl}/stats`)
