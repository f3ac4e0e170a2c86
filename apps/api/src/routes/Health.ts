/**
 * GET /health: 200 when every dependency answers, 503 otherwise, with each one's state:
 * `{"status": "ok"|"unavailable", "mode", "checks": {"store": {"status": "up"|"down", "error"?}, "stream"?: …},
 * "backlog"?: {"size", "max", "accepting"}}`. The backlog (queued mode) is the ingest's last measurement, read
 * without IO; above its high-water mark publishing is refused, but the status stays: reads are still served.
 * Each check is a liveness probe with a time limit: the store's `ping` (one round trip that reads nothing), the
 * log's stats (a few O(1) commands); neither grows with the data. Never needs the API key (load balancers,
 * compose health checks). Does not try to repair anything.
 */
import { EventLog, EventStore, Ingest } from "@agg/core"
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
export const routes = (mode: "direct" | "queued"): ReadonlyArray<Route<EventStore.EventStore | Ingest.Ingest>> => [
  {
    method: "GET",
    path: "/health",
    auth: false,
    handler: () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const log = yield* Effect.serviceOption(EventLog.EventLog)
        const [storeCheck, logCheck] = yield* Effect.all(
          [check(store.ping), Option.isSome(log) ? check(log.value.stats) : Effect.succeed(undefined)],
          { concurrency: 2 }
        )
        const checks = logCheck === undefined ? { store: storeCheck } : { store: storeCheck, stream: logCheck }
        const ok = Object.values(checks).every((c) => c.status === "up")
        const backlog = Option.map(yield* (yield* Ingest.Ingest).backlog, (b) => ({
          size: b.size ?? null,
          max: b.max,
          accepting: !b.refusing
        }))
        return json(ok ? 200 : 503, {
          status: ok ? "ok" : "unavailable",
          mode,
          checks,
          ...(Option.isSome(backlog) ? { backlog: backlog.value } : {})
        } satisfies HealthBody)
      })
  }
]
