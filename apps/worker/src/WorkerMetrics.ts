/**
 * The worker's figures as Prometheus samples: the core consumer's counters (batches, events by outcome, reclaims,
 * dead letters, retries, commit latency) plus the process's resident memory. Names are prefixed `agg_worker_`;
 * each replica exposes its own, so a scraper sums them across replicas.
 *
 * Deliberately does not count anything itself: the consumer keeps the counters.
 */
import type { Consumer } from "@agg/core"
import type { Sample } from "./MetricsServer.ts"

/** The samples of one scrape. @category constructors */
export const toSamples = (m: Consumer.ConsumerMetrics, residentBytes: number): ReadonlyArray<Sample> => [
  { name: "agg_worker_batches_total", type: "counter", help: "Batches committed.", value: m.batches },
  {
    name: "agg_worker_events_total",
    type: "counter",
    help: "Stream entries committed (unique + duplicates + redelivered).",
    value: m.events
  },
  { name: "agg_worker_events_unique_total", type: "counter", help: "Events stored as new.", value: m.unique },
  {
    name: "agg_worker_events_duplicate_total",
    type: "counter",
    help: "Events dropped as duplicates (conflicts included).",
    value: m.duplicates
  },
  {
    name: "agg_worker_events_conflict_total",
    type: "counter",
    help: "Duplicates whose content differed from the stored event.",
    value: m.conflicts
  },
  {
    name: "agg_worker_events_redelivered_total",
    type: "counter",
    help: "Entries committed before and delivered again (crash between commit and ack); counted nowhere else.",
    value: m.redelivered
  },
  {
    name: "agg_worker_reclaimed_total",
    type: "counter",
    help: "Entries taken over from idle consumers.",
    value: m.reclaimed
  },
  {
    name: "agg_worker_dead_lettered_total",
    type: "counter",
    help: "Entries moved to the dead-letter stream.",
    value: m.deadLettered
  },
  {
    name: "agg_worker_retries_total",
    type: "counter",
    help: "Retries after retryable store or log failures.",
    value: m.retries
  },
  {
    name: "agg_worker_commit_seconds_sum",
    type: "counter",
    help: "Total time spent in store commits.",
    value: m.commitMillisTotal / 1000
  },
  {
    name: "agg_worker_commit_seconds_count",
    type: "counter",
    help: "Store commits timed (one per committed batch).",
    value: m.batches
  },
  {
    name: "agg_worker_last_commit_seconds",
    type: "gauge",
    help: "Duration of the latest store commit.",
    value: m.lastCommitMillis / 1000
  },
  {
    name: "agg_worker_resident_memory_bytes",
    type: "gauge",
    help: "Resident set size of the worker process.",
    value: residentBytes
  }
]
