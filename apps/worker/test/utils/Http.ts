/**
 * Talking to a running api from the tests: JSON GETs and bounded polling until a condition holds. Polling is the
 * synchronisation: every wait has a deadline and, when it passes, fails with the last value it saw.
 *
 * Deliberately does not retry failed assertions or hide errors: a probe that fails is treated as "not yet".
 */
import { Clock, Data, Effect } from "effect"

/** A wait that did not see its condition before the deadline, with the last value observed. */
export class WaitTimeout extends Data.TaggedError("WaitTimeout")<{ readonly message: string }> {}

/** An HTTP call that failed or answered with an unexpected status. */
export class HttpFailure extends Data.TaggedError("HttpFailure")<{ readonly message: string }> {}

/** GET a text body; fails unless the status is 2xx. */
export const getText = (url: string): Effect.Effect<string, HttpFailure> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, { signal })
      const text = await response.text()
      if (!response.ok) throw new Error(`${response.status} ${text.slice(0, 300)}`)
      return text
    },
    catch: (cause) => new HttpFailure({ message: `GET ${url}: ${cause instanceof Error ? cause.message : cause}` })
  })

/** GET a JSON body; fails unless the status is 2xx. */
export const getJson = <A>(url: string): Effect.Effect<A, HttpFailure> =>
  getText(url).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as A,
        catch: () => new HttpFailure({ message: `GET ${url}: not JSON: ${text.slice(0, 300)}` })
      })
    )
  )

/**
 * Run `probe` every `intervalMs` until `done(value)` holds, and return that value. Probe failures count as
 * "not yet". After `timeoutMs`, fail with `WaitTimeout` describing the last value (or the last error).
 */
export const waitFor = <A, E>(
  label: string,
  probe: Effect.Effect<A, E>,
  done: (value: A) => boolean,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number; readonly context?: () => string } = {}
): Effect.Effect<A, WaitTimeout> =>
  Effect.gen(function* () {
    const timeoutMs = options.timeoutMs ?? 60_000
    const intervalMs = options.intervalMs ?? 100
    const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
    let last = "nothing observed yet"
    while (true) {
      const result = yield* Effect.result(probe)
      if (result._tag === "Success") {
        if (done(result.success)) return result.success
        last = JSON.stringify(result.success)
      } else {
        last = `error: ${String(result.failure)}`
      }
      if ((yield* Clock.currentTimeMillis) >= deadline) {
        const context = options.context?.() ?? ""
        return yield* new WaitTimeout({
          message: `timed out after ${timeoutMs} ms waiting for ${label}; last: ${last.slice(0, 2000)}${context ? `\n${context}` : ""}`
        })
      }
      yield* Effect.sleep(intervalMs)
    }
  })

/** Wait until GET `url` answers 2xx (the service is up). */
export const waitHealthy = (
  url: string,
  options: { readonly timeoutMs?: number; readonly context?: () => string } = {}
) => waitFor(`${url} to answer`, getJson<unknown>(url), () => true, { intervalMs: 50, ...options }).pipe(Effect.asVoid)
