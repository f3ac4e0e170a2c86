import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { type BenchResults, computeTargets, renderMarkdown, writeResults } from "../src/Results.ts"
import type { PgActivity, RedisMemory } from "../src/Sampler.ts"
import type { DrainResult } from "../src/scenarios/Drain.ts"
import type { IngestRow } from "../src/scenarios/HttpIngest.ts"

const MB = 1024 * 1024
const drain = (
  name: string,
  workers: number,
  eventsPerSec: number,
  rss: Record<string, number>,
  deadlocks: number,
  extra: {
    partitions?: number
    workerBatchSize?: number
    pg?: PgActivity | null
    redis?: RedisMemory | null
    cpu?: DrainResult["cpu"]
  } = {}
) =>
  ({
    name,
    mode: "queued",
    workers,
    events: 1000,
    unique: 700,
    duplicates: 300,
    batchSize: 500,
    publishConcurrency: 8,
    seconds: 1000 / eventsPerSec,
    eventsPerSec,
    publishSeconds: 0.5,
    publishP50Ms: 3,
    publishP99Ms: 9,
    maxPending: 500,
    verified: true,
    mismatches: [],
    storedRows: 700,
    peakRss: rss,
    deadlocks,
    cpu: { wallSeconds: 1, cores: { api: 0.5, workers: 0.9 }, machineBusy: 0.8, machineIowait: 0.01, otherCores: 0.2 },
    pg: null,
    redis: null,
    ...extra
  }) satisfies DrainResult
/** Backend samples of a drain: `waits` are shares of 100 samples. */
const activity = (waits: Record<string, number>): PgActivity => ({
  waits,
  samples: 100,
  commits: 10,
  rollbacks: 0,
  deadlocks: 0,
  walSyncs: 10,
  walBytes: 1000,
  walLsnBytes: 1000
})
/** A grid of 1, 2 and 4 workers at one partition count. */
const grid = (partitions: number, rates: [number, number, number], lockShares: [number, number, number]) =>
  ([1, 2, 4] as const).map((workers, i) =>
    drain(
      `queued, ${workers} worker${workers > 1 ? "s" : ""}, ${partitions} partition${partitions > 1 ? "s" : ""}`,
      workers,
      rates[i]!,
      { [`api-queued-p${partitions}-${workers}w`]: 150 * MB, [`worker-p${partitions}-${workers}w-1`]: 100 * MB },
      0,
      {
        partitions,
        pg: activity({ "active/-": 1 - lockShares[i]!, "active/Lock:transactionid": lockShares[i]! })
      }
    )
  )
const ingest = (target: string, reqPerSec: number): IngestRow => ({
  target,
  eventsPerRequest: 1,
  connections: 50,
  seconds: 10,
  requests2xx: reqPerSec * 10,
  non2xx: 0,
  errors: 0,
  reqPerSec,
  eventsPerSec: reqPerSec,
  p50Ms: 1,
  p99Ms: 5,
  maxMs: 9,
  rounds: 5
})

const results = (over: Partial<BenchResults> = {}): BenchResults => ({
  startedAt: "2026-11-21T06:00:00.000Z",
  totalSeconds: 300,
  options: { quick: false },
  machine: {
    cpuModel: "AMD EPYC",
    cores: 2,
    ramGiB: 23.5,
    kernel: "Linux",
    node: "v24.21.0",
    postgres: "15.20",
    postgresSettings: {},
    redis: "7.0.15",
    redisSettings: { aof_enabled: "0" },
    gitCommit: "abc"
  },
  rawInsert: { events: 1000, batchSize: 500, seconds: 0.02, eventsPerSec: 50_000, rowsStored: 700, verified: true },
  seedConsumer: {
    events: 100,
    seconds: 0.1,
    eventsPerSec: 1000,
    extrapolatedSeconds: 1,
    extrapolatedFor: 1000,
    verified: true
  },
  drains: [
    drain("queued, 1 worker", 1, 20_000, { "api-queued-1w": 120 * MB, "worker-1w-1": 90 * MB }, 0),
    drain("queued, 2 workers", 2, 40_000, { "api-queued-2w": 130 * MB, "worker-2w-1": 250 * MB }, 0)
  ],
  httpIngest: [
    ingest("node:http parse-only", 20_000),
    ingest("api queued (no workers)", 17_000),
    ingest("api embedded", 9_000)
  ],
  latency: [],
  fsync: [],
  subscribe: null,
  errors: [],
  profiles: [],
  ...over
})

describe("computeTargets", () => {
  const byName = (r: BenchResults) => new Map(computeTargets(r).map((t) => [t.name, t]))

  it("compares the 2-worker drain with the raw insert of the same run", () => {
    const t = byName(results())
    expect(t.get("end-to-end (queued, 2 workers) vs raw batched insert")).toMatchObject({ value: 0.8, met: true })
    expect(t.get("end-to-end (queued, 2 workers) vs seed-style consumer")).toMatchObject({ value: 40, met: true })
  })

  it("compares single-event publish with bare node:http", () => {
    const t = byName(results())
    expect(t.get("single-event publish, api queued (no workers) vs bare node:http")).toMatchObject({
      value: 0.85,
      met: true
    })
    expect(t.get("single-event publish, api embedded vs bare node:http")).toMatchObject({ value: 0.45, met: false })
  })

  it("takes the highest peak RSS per process kind and sums deadlocks", () => {
    const t = byName(results())
    expect(t.get("peak RSS, api queued, max over drains")).toMatchObject({ value: 130, met: true })
    expect(t.get("peak RSS, each worker, max over drains")).toMatchObject({ value: 250, met: false })
    expect(t.get("peak RSS, api embedded (PGlite in process), max over drains")).toMatchObject({ met: null })
    expect(t.get("PostgreSQL deadlocks during the drains")).toMatchObject({ value: 0, met: true })
  })

  it("judges scaling, lock waits and the raw insert at the partition count whose fastest drain is fastest", () => {
    const drains = [
      ...grid(1, [20_000, 22_000, 23_000], [0, 0.3, 0.4]),
      ...grid(8, [20_000, 30_000, 36_000], [0, 0.05, 0.08]),
      ...grid(16, [19_000, 29_000, 28_000], [0, 0.02, 0.03])
    ]
    const t = byName(results({ drains }))
    expect(t.get("end-to-end (queued, 2 workers, 8 partitions) vs raw batched insert")).toMatchObject({
      value: 0.6,
      met: true
    })
    expect(t.get("scaling at PARTITIONS=8: 2 workers vs 1 worker")).toMatchObject({ value: 1.5, met: true })
    expect(t.get("scaling at PARTITIONS=8: 4 workers vs 2 workers")).toMatchObject({ value: 1.2, met: true })
    const locks = t.get(
      "Lock:transactionid share of PostgreSQL backend samples at PARTITIONS=8, max over worker counts"
    )
    expect(locks).toMatchObject({ met: true, measured: "8.0% (queued, 4 workers, 8 partitions)" })
    expect(locks?.value).toBeCloseTo(8)
  })

  it("fails the scaling and lock targets when replicas wait on each other", () => {
    const t = byName(results({ drains: grid(1, [20_000, 22_000, 21_000], [0, 0.25, 0.3]) }))
    expect(t.get("scaling at PARTITIONS=1: 2 workers vs 1 worker")).toMatchObject({ value: 1.1, met: false })
    expect(t.get("scaling at PARTITIONS=1: 4 workers vs 2 workers")?.met).toBe(false)
    expect(
      t.get("Lock:transactionid share of PostgreSQL backend samples at PARTITIONS=1, max over worker counts")
    ).toMatchObject({ value: 30, met: false })
  })

  it("compares the embedded drain with the raw insert, and counts the batch-size drains' deadlocks", () => {
    const embedded = {
      ...drain("embedded (PGlite)", 0, 30_000, { "api-embedded-drain": 300 * MB }, 0),
      mode: "embedded" as const
    }
    const batchDrain = drain("queued, 2 workers, 8 partitions, WORKER_BATCH_SIZE=2000", 2, 30_000, {}, 2, {
      partitions: 8,
      workerBatchSize: 2000
    })
    const r = results({
      drains: [...results().drains, embedded],
      batch: { workers: 2, partitions: 8, partitionsFrom: "--batch-partitions", drains: [batchDrain] }
    })
    const t = byName(r)
    expect(t.get("embedded drain (PGlite) vs raw batched insert")).toMatchObject({ value: 0.6, met: true })
    expect(t.get("peak RSS, api embedded (PGlite in process), max over drains")).toMatchObject({
      value: 300,
      met: true
    })
    expect(t.get("PostgreSQL deadlocks during the drains")).toMatchObject({ value: 2, met: false })
  })

  it("marks targets whose inputs are missing as not measured", () => {
    const t = byName(results({ drains: [], rawInsert: null, httpIngest: [] }))
    expect(t.get("end-to-end vs raw batched insert")).toMatchObject({ value: null, met: null })
    expect(t.get("PostgreSQL deadlocks during the drains")).toMatchObject({ met: null })
    expect(t.get("scaling: 2 workers vs 1 worker")).toMatchObject({ met: null })
    expect(t.get("embedded drain (PGlite) vs raw batched insert")).toMatchObject({ met: null })
  })
})

describe("renderMarkdown", () => {
  it("shows the machine, the ratios with ✓/✗ and every measured table", () => {
    const r = results()
    const md = renderMarkdown(r, computeTargets(r))
    expect(md).toContain("| AMD EPYC | 2 | 23.5 GiB | v24.21.0 | 15.20 | 7.0.15 | abc |")
    expect(md).toMatch(/vs raw batched insert \| 40,000 ev\/s \| 50,000 ev\/s \| 0\.80× \| ≥ 0\.60× \| ✓ \|/)
    expect(md).toMatch(/peak RSS, each worker.*\| 250 MB \|.*\| ✗ \|/)
    expect(md).toContain("## HTTP ingest")
    expect(md).toContain("### Where the time went during the drains")
  })

  it("renders one scaling row per partition count and worker count, marking the best count", () => {
    const r = results({
      drains: [
        ...grid(1, [20_000, 22_000, 23_000], [0, 0.3, 0.4]),
        ...grid(8, [20_000, 30_000, 36_000], [0, 0.05, 0.08])
      ]
    })
    const md = renderMarkdown(r, computeTargets(r))
    expect(md).toContain("### Scaling: end-to-end drain by log partitions and worker replicas")
    // partitions, workers, ev/s, × raw, × 1 worker, Lock:transactionid, Lock:tuple, idle in tx, WALSync, CPU, other
    expect(md).toContain("| 1 | 2 | **22,000** | 0.44× | 1.10× | 30% | 0% | 0% | 0% | 70% | 0% | 0 | 150 MB | 100 |")
    expect(md).toContain("| 8 * | 4 | **36,000** | 0.72× | 1.80× | 8% | 0% | 0% | 0% | 92% | 0% | 0 | 150 MB | 100 |")
    expect(md).toContain("| queued, 4 workers, 8 partitions | 1,000 |")
    expect(md).toContain("api 150 MB, worker-1 100 MB")
  })

  it("renders the batch-size table against WORKER_BATCH_SIZE=500", () => {
    const sized = [500, 2000].map((size, i) =>
      drain(
        `queued, 2 workers, 8 partitions, WORKER_BATCH_SIZE=${size}`,
        2,
        20_000 * (i + 1),
        { [`worker-p8-2w-b${size}-1`]: (100 + i * 50) * MB, [`worker-p8-2w-b${size}-2`]: 90 * MB },
        0,
        {
          partitions: 8,
          workerBatchSize: size
        }
      )
    )
    const r = results({ batch: { workers: 2, partitions: 8, partitionsFrom: "--batch-partitions", drains: sized } })
    const md = renderMarkdown(r, computeTargets(r))
    expect(md).toContain("## Worker batch size: 2 workers, PARTITIONS=8 (--batch-partitions)")
    expect(md).toContain("| 500 | **20,000** | 1.00× | 100 / 90 | – | 0 | ✓ exact |")
    expect(md).toContain("| 2000 | **40,000** | 2.00× | 150 / 90 | – | 0 | ✓ exact |")
  })
})

describe("sizing table", () => {
  // 1,000 events drained in 0.05 s: 1 core for the whole drain is 50 ms of CPU per 1,000 events
  const queued = drain("queued, 2 workers, 8 partitions", 2, 20_000, {}, 0, {
    partitions: 8,
    cpu: {
      wallSeconds: 0.05,
      cores: { api: 0.5, workers: 1, postgres: 0.6, redis: 0.1, bench: 0.3 },
      machineBusy: 1,
      machineIowait: 0,
      otherCores: 0
    },
    pg: { ...activity({ "active/-": 1 }), walLsnBytes: 450_000 },
    redis: { beforeBytes: 10 * MB, peakBytes: 10 * MB + 512_000, entriesAtPeak: 1000, maxEntries: 1000, samples: 4 }
  })
  const embedded = {
    ...drain("embedded (PGlite)", 0, 20_000, {}, 0, {
      cpu: { wallSeconds: 0.05, cores: { api: 0.9, bench: 0.3 }, machineBusy: 1, machineIowait: 0, otherCores: 0 }
    }),
    mode: "embedded" as const
  }

  it("renders one row per drain with CPU ms per 1,000 events per component, WAL and Redis bytes", () => {
    const batchDrain = drain("queued, 2 workers, 8 partitions, WORKER_BATCH_SIZE=2000", 2, 25_000, {}, 0, {
      partitions: 8,
      workerBatchSize: 2000
    })
    const r = results({
      drains: [queued, embedded],
      batch: { workers: 2, partitions: 8, partitionsFrom: "--batch-partitions", drains: [batchDrain] }
    })
    const md = renderMarkdown(r, computeTargets(r))
    expect(md).toContain("### Sizing: cost per event of the drains")
    expect(md).toContain(
      "| run | events/s | api CPU ms / 1k events | workers CPU ms / 1k events (all replicas) | " +
        "PostgreSQL CPU ms / 1k events | Redis CPU ms / 1k events | total CPU ms / 1k events | events per CPU-second | " +
        "PostgreSQL WAL bytes / event | Redis bytes / backlog entry | Redis peak growth / entries held |"
    )
    // the bench's own 0.3 cores (the load generator) are not part of the total
    expect(md).toContain(
      "| queued, 2 workers, 8 partitions | **20,000** | 25.0 | 50.0 | 30.0 | 5.0 | 110.0 | 9,091 | 450 | 512 | 0.5 MB / 1,000 |"
    )
    expect(md).toContain("| embedded (PGlite) | **20,000** | 45.0 | – | – | – | 45.0 | 22,222 | – | – | – |")
    // the fixture's batch drain: api 0.5 and workers 0.9 cores over its 1 s CPU window, no PostgreSQL sampled
    expect(md).toContain(
      "| queued, 2 workers, 8 partitions, WORKER_BATCH_SIZE=2000 | **25,000** | 500.0 | 900.0 | – | – | 1400.0 | 714 | – | – | – |"
    )
  })

  it("is left out when no drain ran, and written to the JSON beside the targets", () => {
    const none = results({ drains: [] })
    expect(renderMarkdown(none, computeTargets(none))).not.toContain("### Sizing")
    const dir = mkdtempSync(join(tmpdir(), "agg-bench-results-"))
    try {
      const written = writeResults(dir, "stamp", results({ drains: [queued, embedded] }))
      const json = JSON.parse(readFileSync(written.json, "utf8")) as { sizing: Array<Record<string, unknown>> }
      expect(json.sizing.map((row) => row["run"])).toEqual(["queued, 2 workers, 8 partitions", "embedded (PGlite)"])
      expect(json.sizing[0]).toMatchObject({ walBytesPerEvent: 450, redisBytesPerEntry: 512, redisEntriesAtPeak: 1000 })
      expect(json.sizing[1]).toMatchObject({
        cpuMsPer1000Events: { postgres: null, redis: null },
        walBytesPerEvent: null
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
