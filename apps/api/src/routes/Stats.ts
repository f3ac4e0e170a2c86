/**
 * GET /stats: the seed-compatible keys `received`, `unique_processed`, `duplicate_dropped`, `topics`,
 * `uptime_seconds`, plus `conflicts`, `pending`, `dead_lettered` and `topic_count`. `topics` lists at most the
 * first 1,000 names (GET /topics pages them all, with their counts), so the answer stays small and cheap however
 * many topics there are: the counters are the store's `totals`, never a read of every topic row. In queued mode
 * `received` and `pending` come from the stream, the rest from the store; in direct mode all from the store.
 * The arithmetic is core's `Stats`; this module only reads the ports and adds the uptime.
 */
import { EventLog, EventStore, Stats } from "@agg/core"
import type { StatsBody } from "@agg/schema"
import { Clock, Effect, Option } from "effect"
import { fromDependency, type InternalError, type ServiceUnavailable } from "../HttpErrors.ts"
import { json, type Route } from "../Route.ts"

/** The current figures, from the store and (when present) the log, read concurrently. */
export const currentStats: Effect.Effect<Stats.Overview, ServiceUnavailable | InternalError, EventStore.EventStore> =
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const log = yield* Effect.serviceOption(EventLog.EventLog)
    const [totals, first, logStats] = yield* Effect.all(
      [
        store.totals,
        store.topics({ after: "", limit: Stats.LISTED_TOPICS }),
        Option.isSome(log) ? log.value.stats : Effect.succeed(undefined)
      ],
      { concurrency: 3 }
    )
    return Stats.overview(
      totals,
      first.topics.map((t) => t.topic),
      logStats
    )
  }).pipe(Effect.mapError(fromDependency))

/** Whole seconds since `startedAtMs`, by the Clock. */
export const uptimeSeconds = (startedAtMs: number) =>
  Effect.map(Clock.currentTimeMillis, (now) => Math.max(0, Math.floor((now - startedAtMs) / 1000)))

/** @category constructors */
export const routes = (startedAtMs: number): ReadonlyArray<Route<EventStore.EventStore>> => [
  {
    method: "GET",
    path: "/stats",
    auth: true,
    handler: () =>
      Effect.gen(function* () {
        const stats = yield* currentStats
        return json(200, { ...stats, uptime_seconds: yield* uptimeSeconds(startedAtMs) } satisfies StatsBody)
      })
  }
]
