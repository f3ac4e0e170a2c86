/**
 * Pure: the figures served by GET /stats, combined from the store's counters and, in queued mode, the
 * log's, and the identity they must satisfy at every quiet point (docs/invariants.md, "Exact stats"):
 *
 *     received == unique_processed + duplicate_dropped + pending + dead_lettered + discarded
 *
 * - `received`: events accepted (appended to the log; in direct mode: committed, since nothing waits there).
 * - `unique_processed`: events stored (one per key); `duplicate_dropped`: deliveries dropped as duplicates,
 *   conflicts included; `conflicts`: the subset of duplicates whose content differed from the stored version.
 * - `pending`: accepted, not yet processed = log entries never delivered (lag) + delivered but not acknowledged.
 * - `dead_lettered`: entries in the dead-letter store (moved there instead of being committed; a redrive moves
 *   one back into `pending`, and it is counted wherever it ends up next).
 * - `discarded`: dead-lettered entries removed for good (by hand, or dropped by the dead-letter store's cap).
 * A redelivered entry whose batch was already committed counts nowhere a second time.
 *
 * "Quiet point" matters: while a consumer holds a committed-but-not-yet-acknowledged batch, its events are both
 * processed and pending, so the left side is smaller than the right until the ack. The invariant also assumes
 * every log entry came through `EventLog.append` (which counts `received`), and that an entry is dead-lettered
 * only if it was never committed (see Consumer). Uptime is the API's business, not this module's.
 */
import type { LogStats } from "./EventLog.ts"
import type { StoreStats, StoreTotals } from "./EventStore.ts"

/** One topic's figures. @category models */
export interface TopicFigures {
  readonly unique_processed: number
  readonly duplicate_dropped: number
  readonly conflicts: number
}

/** The stats object of GET /stats (without `uptime_seconds`, which the API adds). @category models */
export interface Stats {
  readonly received: number
  readonly unique_processed: number
  readonly duplicate_dropped: number
  readonly conflicts: number
  readonly pending: number
  readonly dead_lettered: number
  readonly discarded: number
  /** Topic names, sorted. */
  readonly topics: ReadonlyArray<string>
  /** Per-topic counters, keyed by topic name. */
  readonly per_topic: Readonly<Record<string, TopicFigures>>
}

const storePart = (store: StoreStats) => ({
  unique_processed: store.unique,
  duplicate_dropped: store.duplicates,
  conflicts: store.conflicts,
  topics: store.topics.map((t) => t.topic),
  per_topic: Object.fromEntries(
    store.topics.map((t) => [
      t.topic,
      { unique_processed: t.unique, duplicate_dropped: t.duplicates, conflicts: t.conflicts }
    ])
  )
})

/**
 * Stats of the queued (distributed) mode: `received` and outstanding work come from the log.
 * @category constructors
 */
export const fromQueued = (store: StoreStats, log: LogStats): Stats => ({
  received: log.received,
  ...storePart(store),
  pending: log.lag + log.pending,
  dead_lettered: log.deadLettered,
  discarded: log.discarded
})

/**
 * Stats of the direct (embedded) mode: there is no log, a request is answered only after its commit, so nothing
 * is pending and `received` is what the store counted.
 * @category constructors
 */
export const fromDirect = (store: StoreStats): Stats => ({
  received: store.unique + store.duplicates,
  ...storePart(store),
  pending: 0,
  dead_lettered: 0,
  discarded: 0
})

/** Most topic names GET /stats lists (the first ones by name); GET /topics pages them all. @category models */
export const LISTED_TOPICS = 1000

/**
 * The figures of GET /stats as served: the counters, the first topic names (at most `LISTED_TOPICS`) and the
 * topic count. Built from the store's totals, never from every topic row. @category models
 */
export interface Overview extends Omit<Stats, "topics" | "per_topic"> {
  readonly topics: ReadonlyArray<string>
  readonly topic_count: number
}

/**
 * The `Overview` from the store's totals and first topic names, plus the log's figures in queued mode (as in
 * `fromQueued`), or none in direct mode (as in `fromDirect`).
 * @category constructors
 */
export const overview = (totals: StoreTotals, topics: ReadonlyArray<string>, log?: LogStats): Overview => ({
  received: log === undefined ? totals.unique + totals.duplicates : log.received,
  unique_processed: totals.unique,
  duplicate_dropped: totals.duplicates,
  conflicts: totals.conflicts,
  pending: log === undefined ? 0 : log.lag + log.pending,
  dead_lettered: log === undefined ? 0 : log.deadLettered,
  discarded: log === undefined ? 0 : log.discarded,
  topics,
  topic_count: totals.topicCount
})

/**
 * How far the figures are from the invariant:
 * `received - (unique + duplicates + pending + dead_lettered + discarded)`.
 * 0 at a quiet point; negative while a committed batch awaits its ack; positive means events were lost.
 * @category constructors
 */
export const imbalance = (
  stats: Pick<Stats, "received" | "unique_processed" | "duplicate_dropped" | "pending" | "dead_lettered" | "discarded">
): number =>
  stats.received -
  (stats.unique_processed + stats.duplicate_dropped + stats.pending + stats.dead_lettered + stats.discarded)

/**
 * Check the invariant and the per-topic sums; returns the list of violations (empty when all hold).
 * @category constructors
 */
export const violations = (stats: Stats): Array<string> => {
  const out: Array<string> = []
  const gap = imbalance(stats)
  if (gap !== 0)
    out.push(
      `received (${stats.received}) != unique_processed (${stats.unique_processed}) + duplicate_dropped ` +
        `(${stats.duplicate_dropped}) + pending (${stats.pending}) + dead_lettered (${stats.dead_lettered}) + ` +
        `discarded (${stats.discarded})`
    )
  const figures = Object.values(stats.per_topic)
  const sum = (f: (t: TopicFigures) => number) => figures.reduce((n, t) => n + f(t), 0)
  if (sum((t) => t.unique_processed) !== stats.unique_processed) out.push("per-topic unique_processed does not sum up")
  if (sum((t) => t.duplicate_dropped) !== stats.duplicate_dropped)
    out.push("per-topic duplicate_dropped does not sum up")
  if (sum((t) => t.conflicts) !== stats.conflicts) out.push("per-topic conflicts do not sum up")
  if (stats.conflicts > stats.duplicate_dropped) out.push("conflicts exceed duplicate_dropped")
  return out
}

/** The store's totals recomputed from its per-topic rows (the port says they are sums). @category constructors */
export const sumTopics = (topics: StoreStats["topics"]): StoreStats => ({
  unique: topics.reduce((n, t) => n + t.unique, 0),
  duplicates: topics.reduce((n, t) => n + t.duplicates, 0),
  conflicts: topics.reduce((n, t) => n + t.conflicts, 0),
  topics
})
