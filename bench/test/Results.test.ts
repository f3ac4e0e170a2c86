import { describe, expect, it } from "vitest"
import { type BenchResults, computeTargets, renderMarkdown } from "../src/Results.ts"
import type { DrainResult } from "../src/scenarios/Drain.ts"
import type { IngestRow } from "../src/scenarios/HttpIngest.ts"

const MB = 1024 * 1024
const drain = (name: string, workers: number, eventsPerSec: number, rss: Record<string, number>, deadlocks: number) =>
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
    pg: null
  }) satisfies DrainResult
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

  it("compares each queued drain with the raw insert of the same run", () => {
    const t = byName(results())
    expect(t.get("end-to-end (queued, 1 worker) vs raw batched insert")).toMatchObject({ value: 0.4, met: false })
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

  it("marks targets whose inputs are missing as not measured", () => {
    const t = byName(results({ drains: [], rawInsert: null, httpIngest: [] }))
    expect(t.get("end-to-end vs raw batched insert")).toMatchObject({ value: null, met: null })
    expect(t.get("PostgreSQL deadlocks during the drains")).toMatchObject({ met: null })
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
})
