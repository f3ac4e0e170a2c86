import { describe, expect, it } from "vitest"
import type { PgActivity, RedisMemory } from "../src/Sampler.ts"
import { sizingRow, sizingRows } from "../src/Sizing.ts"
import type { DrainResult } from "../src/scenarios/Drain.ts"

const pg = (walLsnBytes: number): PgActivity => ({
  waits: {},
  samples: 0,
  commits: 40,
  rollbacks: 0,
  deadlocks: 0,
  walSyncs: 40,
  walBytes: walLsnBytes,
  walLsnBytes
})

/** A drain of 20,000 events over 2 s of sampled CPU. */
const drain = (over: Partial<DrainResult>): DrainResult => ({
  name: "queued, 2 workers, 4 partitions",
  mode: "queued",
  workers: 2,
  partitions: 4,
  events: 20_000,
  unique: 14_000,
  duplicates: 6_000,
  batchSize: 500,
  publishConcurrency: 8,
  seconds: 2,
  eventsPerSec: 10_000,
  publishSeconds: 1,
  publishP50Ms: 3,
  publishP99Ms: 9,
  maxPending: 5_000,
  verified: true,
  mismatches: [],
  storedRows: 14_000,
  peakRss: {},
  deadlocks: 0,
  cpu: {
    wallSeconds: 2,
    cores: { api: 0.25, workers: 0.5, postgres: 0.75, redis: 0.1, bench: 0.05 },
    machineBusy: 0.9,
    machineIowait: 0,
    otherCores: 0
  },
  pg: pg(8_000_000),
  redis: { beforeBytes: 1_000_000, peakBytes: 3_000_000, entriesAtPeak: 4_000, maxEntries: 5_000, samples: 9 },
  ...over
})

describe("sizingRow", () => {
  it("turns each component's cores over the drain into CPU ms per 1,000 events, without the load generator", () => {
    const row = sizingRow(drain({}))
    // api: 0.25 cores × 2 s = 500 ms over 20 thousand events
    expect(row.cpuMsPer1000Events.api).toBeCloseTo(25)
    expect(row.cpuMsPer1000Events.workers).toBeCloseTo(50)
    expect(row.cpuMsPer1000Events.postgres).toBeCloseTo(75)
    expect(row.cpuMsPer1000Events.redis).toBeCloseTo(10)
    expect(row.totalCpuMsPer1000Events).toBeCloseTo(160)
    expect(row.eventsPerCpuSecond).toBeCloseTo(6_250)
    expect(row).toMatchObject({ run: "queued, 2 workers, 4 partitions", events: 20_000, eventsPerSec: 10_000 })
  })

  it("divides WAL by the events received and Redis growth by the entries held at the peak", () => {
    const row = sizingRow(drain({}))
    expect(row.walBytesPerEvent).toBe(400)
    expect(row).toMatchObject({ redisBytesPerEntry: 500, redisPeakGrowthBytes: 2_000_000, redisEntriesAtPeak: 4_000 })
  })

  it("leaves out what a run did not have: the embedded api alone, no WAL, no Redis", () => {
    const row = sizingRow(
      drain({
        mode: "embedded",
        workers: 0,
        cpu: { wallSeconds: 2, cores: { api: 0.8, bench: 0.05 }, machineBusy: 0.5, machineIowait: 0, otherCores: 0 },
        pg: null,
        redis: null
      })
    )
    expect(row.cpuMsPer1000Events).toEqual({ api: 80, workers: null, postgres: null, redis: null })
    expect(row.totalCpuMsPer1000Events).toBe(80)
    expect(row.eventsPerCpuSecond).toBe(12_500)
    expect(row).toMatchObject({ walBytesPerEvent: null, redisBytesPerEntry: null, redisPeakGrowthBytes: null })
  })

  it("gives no per-entry figure when the streams held nothing at the peak", () => {
    const redis: RedisMemory = { beforeBytes: 5, peakBytes: 9, entriesAtPeak: 0, maxEntries: 0, samples: 2 }
    expect(sizingRow(drain({ redis })).redisBytesPerEntry).toBeNull()
  })

  it("keeps the drains' order", () => {
    const rows = sizingRows([drain({ name: "b" }), drain({ name: "a" })])
    expect(rows.map((r) => r.run)).toEqual(["b", "a"])
  })
})
