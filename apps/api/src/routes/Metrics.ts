/**
 * GET /metrics: Prometheus text format. Request, latency, accepted-event and commit-size series come from the
 * in-process registry, with the process metrics (memory, CPU, event loop); received/unique/duplicate/conflict/pending
 * gauges are read from the stats at scrape time (left out, not faked, when the store cannot answer), the backlog
 * gauges (queued mode) from the ingest's last measurement. Does not push anywhere.
 */
import { type EventStore, Ingest } from "@agg/core"
import { Metrics as RuntimeMetrics } from "@agg/runtime"
import { Effect, Option } from "effect"
import { Metrics } from "../Metrics.ts"
import { content, type Route } from "../Route.ts"
import { currentStats, uptimeSeconds } from "./Stats.ts"

/** @category constructors */
export const routes = (startedAtMs: number): ReadonlyArray<Route<EventStore.EventStore | Metrics | Ingest.Ingest>> => [
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
                gauge("agg_dead_lettered", "Stream entries in the dead-letter stream now.", stats.value.dead_lettered),
                gauge(
                  "agg_discarded",
                  "Dead letters removed for good (discarded, or dropped by the dead-letter cap).",
                  stats.value.discarded
                ),
                gauge("agg_uptime_seconds", "Seconds since this API process started.", uptime)
              ]
            : []
        // Queued mode: the backlog as the ingest last measured it (no IO), beside its high-water mark.
        const backlog = Option.match(yield* (yield* Ingest.Ingest).backlog, {
          onNone: () => [],
          onSome: (b) => [
            ...(b.size === undefined
              ? []
              : [gauge("agg_backlog", "Stream entries waiting (lag + pending), as last measured.", b.size)]),
            gauge("agg_backlog_max", "High-water mark of the backlog (MAX_BACKLOG).", b.max),
            gauge(
              "agg_backlog_refusing",
              "1 while publishing is refused because the backlog is above it.",
              b.refusing ? 1 : 0
            )
          ]
        })
        return content(200, RuntimeMetrics.contentType, yield* metrics.render([...samples, ...backlog]))
      })
  }
]
