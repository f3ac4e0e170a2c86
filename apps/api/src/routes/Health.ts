/**
 * GET /health (SPEC §4): 200 when every dependency answers, 503 otherwise, with each one's state:
 * `{"status": "ok"|"unavailable", "mode", "checks": {"store": {"status": "up"|"down", "error"?}, "stream"?: …}}`.
 * Each check is a cheap read (the port's stats) with a time limit. Never needs the API key (load balancers,
 * compose health checks). Does not try to repair anything.
 */
import { EventLog, EventStore } from "@agg/core"
import type { HealthBody, HealthCheck } from "@agg/schema"
import { Effect, Option } from "effect"
import { json, type Route } from "../Route.ts"

const CHECK_TIMEOUT = "2 seconds"

// Any failure, defect or timeout is "down"; the reason given is coarse on purpose (no driver messages).
const check = <E extends { readonly retryable: boolean }>(
  probe: Effect.Effect<unknown, E>
): Effect.Effect<HealthCheck> =>
  probe.pipe(
    Effect.timeoutOption(CHECK_TIMEOUT),
    Effect.exit,
    Effect.map((exit): HealthCheck => {
      if (exit._tag === "Failure") {
        const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
        return {
          status: "down",
          error: failure?._tag === "Fail" && failure.error.retryable ? "unreachable" : "failing"
        }
      }
      return exit.value._tag === "None" ? { status: "down", error: "timed out" } : { status: "up" }
    })
  )

/** @category constructors */
export const routes = (mode: "direct" | "queued"): ReadonlyArray<Route<EventStore.EventStore>> => [
  {
    method: "GET",
    path: "/health",
    auth: false,
    handler: () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const log = yield* Effect.serviceOption(EventLog.EventLog)
        const [storeCheck, logCheck] = yield* Effect.all(
          [check(store.stats), Option.isSome(log) ? check(log.value.stats) : Effect.succeed(undefined)],
          { concurrency: 2 }
        )
        const checks = logCheck === undefined ? { store: storeCheck } : { store: storeCheck, stream: logCheck }
        const ok = Object.values(checks).every((c) => c.status === "up")
        return json(ok ? 200 : 503, { status: ok ? "ok" : "unavailable", mode, checks } satisfies HealthBody)
      })
  }
]
