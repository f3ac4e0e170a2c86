/**
 * What a drain costs per event, the figures that size a deployment: CPU milliseconds of each component per 1,000
 * events received, the events one CPU-second of them carries, PostgreSQL WAL bytes per event and Redis bytes per
 * backlog entry. Derived from what a drain already sampled (`Sampler.ts`): CPU per process group over the drain,
 * the WAL position before and after, Redis memory beside the streams' length.
 *
 * @remarks Pure: computes from results, measures nothing. "Events" are the events received, duplicates included
 * (each is appended, read and offered to PostgreSQL). The postgres and redis groups are every process of those
 * servers, and the WAL position and Redis `used_memory` are server-wide, so on a machine shared with other load
 * these figures include it.
 */
import type { DrainResult } from "./scenarios/Drain.ts"

/** The process groups of a drain's CPU breakdown that make up a deployment (the bench's load generator is not). */
export const COMPONENTS = ["api", "workers", "postgres", "redis"] as const
export type Component = (typeof COMPONENTS)[number]

export interface SizingRow {
  readonly run: string
  readonly mode: DrainResult["mode"]
  readonly events: number
  readonly eventsPerSec: number
  /**
   * CPU milliseconds per 1,000 events received, per component (workers summed over replicas); null for a
   * component the run did not have (the embedded api holds PGlite, so it has no postgres or redis).
   */
  readonly cpuMsPer1000Events: Readonly<Record<Component, number | null>>
  /** The components' CPU milliseconds per 1,000 events, summed over those the run had. */
  readonly totalCpuMsPer1000Events: number | null
  /** Events one CPU-second of those components carries: 1,000,000 / `totalCpuMsPer1000Events`. */
  readonly eventsPerCpuSecond: number | null
  /** WAL written over the drain (`pg_wal_lsn_diff` of `pg_current_wal_lsn()` after and before) / events. */
  readonly walBytesPerEvent: number | null
  /** Redis `used_memory` growth at its highest sample / the entries the run's streams held in that sample. */
  readonly redisBytesPerEntry: number | null
  readonly redisPeakGrowthBytes: number | null
  readonly redisEntriesAtPeak: number | null
}

const perEvent = (total: number, events: number): number | null => (events > 0 ? total / events : null)

/** The sizing figures of one drain. */
export const sizingRow = (d: DrainResult): SizingRow => {
  const cpuMs = (component: Component): number | null => {
    const cores = d.cpu.cores[component]
    if (cores === undefined || d.events <= 0) return null
    // cores × wall seconds = CPU seconds; × 1000 for ms, per events/1000
    return (cores * d.cpu.wallSeconds * 1000 * 1000) / d.events
  }
  const cpuMsPer1000Events = Object.fromEntries(COMPONENTS.map((c) => [c, cpuMs(c)])) as Record<
    Component,
    number | null
  >
  const measured = COMPONENTS.flatMap((c) => {
    const ms = cpuMsPer1000Events[c]
    return ms === null ? [] : [ms]
  })
  const total = measured.length === 0 ? null : measured.reduce((a, b) => a + b, 0)
  const redis = d.redis
  const growth = redis === null ? null : redis.peakBytes - redis.beforeBytes
  return {
    run: d.name,
    mode: d.mode,
    events: d.events,
    eventsPerSec: d.eventsPerSec,
    cpuMsPer1000Events,
    totalCpuMsPer1000Events: total,
    eventsPerCpuSecond: total === null || total <= 0 ? null : 1_000_000 / total,
    walBytesPerEvent: d.pg === null ? null : perEvent(d.pg.walLsnBytes, d.events),
    redisBytesPerEntry: redis === null || growth === null ? null : perEvent(growth, redis.entriesAtPeak),
    redisPeakGrowthBytes: growth,
    redisEntriesAtPeak: redis?.entriesAtPeak ?? null
  }
}

/** One row per drain, in the order given. */
export const sizingRows = (drains: ReadonlyArray<DrainResult>): Array<SizingRow> => drains.map(sizingRow)
