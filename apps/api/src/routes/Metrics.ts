/**
 * GET /metrics: Prometheus text format. Request, latency, accepted-event and commit-size series come from the
 * in-process registry; received/unique/duplicate/conflict/pending gauges are read from the stats at scrape time
 * (left out, not faked, when the store cannot answer). Does not push anywhere.
 */
import type { EventStore } from "@agg/core"
import { Effect } from "effect"
import { Metrics } from "../Metrics.ts"
import { content, type Route } from "../Route.ts"
import { currentStats, uptimeSeconds } from "./Stats.ts"

/** @category constructors */
export const routes = (startedAtMs: number): ReadonlyArray<Route<EventStore.EventStore | Metrics>> => [
  {
    method: "GET",
    path: "/metrics",
    auth: true,
    handler: () =>
      Effect.gen(function* () {
        const metrics = yield* Metrics
        const uptime = yield* uptimeSeconds(startedAtMs)
        const stats = yield* currentStats.pipe(Effect.option)
        const gauges =
          stats._tag === "Some"
            ? {
                received: stats.value.received,
                unique: stats.value.unique_processed,
                duplicates: stats.value.duplicate_dropped,
                conflicts: stats.value.conflicts,
                pending: stats.value.pending,
                deadLettered: stats.value.dead_lettered,
                uptimeSeconds: uptime
              }
            : undefined
        return content(200, "text/plain; version=0.0.4; charset=utf-8", metrics.render(gauges))
      })
  }
]
