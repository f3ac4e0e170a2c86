/**
 * GET /metrics: Prometheus text format. Request, latency, accepted-event and commit-size series come from the
 * in-process registry, with the process metrics (memory, CPU, event loop); received/unique/duplicate/conflict/pending gauges are read from the stats at scrape time
 * (left out, not faked, when the store cannot answer). Does not push anywhere.
 */
import type { EventStore } from "@agg/core"
import { Metrics as RuntimeMetrics } from "@agg/runtime"
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
        const gauge = (name: string, help: string, value: number): RuntimeMetrics.Sample => ({
          name,
          type: "gauge",
          help,
          value
        })
        const samples =
          stats._tag === "Some"
            ? [
                gauge("agg_received", "Events accepted (stats received).", stats.value.received),
                gauge(
                  "agg_unique_processed",
                  "Events stored, one per (topic, event_id).",
                  stats.value.unique_processed
                ),
                gauge(
                  "agg_duplicate_dropped",
                  "Deliveries dropped as duplicates (conflicts included).",
                  stats.value.duplicate_dropped
                ),
                gauge(
                  "agg_conflicts",
                  "Duplicates whose content differed from the stored version.",
                  stats.value.conflicts
                ),
                gauge(
                  "agg_pending",
                  "Accepted events not yet processed (stream lag + unacknowledged).",
                  stats.value.pending
                ),
                gauge(
                  "agg_dead_lettered",
                  "Stream entries moved to the dead-letter stream.",
                  stats.value.dead_lettered
                ),
                gauge("agg_uptime_seconds", "Seconds since this API process started.", uptime)
              ]
            : []
        return content(200, RuntimeMetrics.contentType, yield* metrics.render(samples))
      })
  }
]
