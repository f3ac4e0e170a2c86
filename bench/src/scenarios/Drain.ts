/**
 * End-to-end drains: the prepared sequence published in batches through the api, timed from the first
 * publish until GET /stats shows every event processed (`pending == 0` and `unique_processed +
 * duplicate_dropped == events`), then verified exactly against the sequence's known counts and the stored rows.
 *
 * - queued: api (REDIS_URL + DATABASE_URL) → Redis Stream → N worker processes → PostgreSQL, in a fresh database
 *   and stream key, with the log split into `partitions` (PARTITIONS, given to the api and every worker alike) and,
 *   when asked, a WORKER_BATCH_SIZE for the workers;
 * - embedded: api alone with PGlite in a temporary DATA_DIR (each request committed before the answer, group
 *   commit across concurrent requests), so the drain ends with the last answer.
 *
 * Alongside: peak RSS of the api and each worker during the drain (VmHWM, restarted when publishing starts so
 * start-up does not count), CPU per process group, PostgreSQL wait events, commits and deadlocks of the run's
 * database, WAL written, and Redis memory in use beside the entries the run's streams held (queued).
 *
 * @remarks Fails the scenario (throws) on a non-2xx publish or when processing stalls for `stallSeconds`; a
 * count mismatch is reported in `mismatches`, not thrown, so the run still writes its results.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { StatsBody } from "@agg/schema"
import { withPgClient } from "@agg/testing/TestServices"
import { type ApiClient, quantile } from "../ApiClient.ts"
import { type Child, peakRss, resetPeakRss, stop } from "../Children.ts"
import type { EventSequence } from "../Events.ts"
import { createDatabase, createStream, type Servers } from "../Isolation.ts"
import {
  type CpuBreakdown,
  type PgActivity,
  type RedisMemory,
  sampleCpu,
  samplePg,
  sampleRedisMemory
} from "../Sampler.ts"
import { startApi, startWorkers } from "../System.ts"

export interface DrainResult {
  readonly name: string
  readonly mode: "queued" | "embedded"
  readonly workers: number
  /** PARTITIONS given to the api and workers (queued); absent for embedded drains. */
  readonly partitions?: number
  /** WORKER_BATCH_SIZE given to the workers; absent when they ran with the inherited setting. */
  readonly workerBatchSize?: number
  readonly events: number
  readonly unique: number
  readonly duplicates: number
  readonly batchSize: number
  readonly publishConcurrency: number
  /** First publish → drained. */
  readonly seconds: number
  readonly eventsPerSec: number
  /** First publish → last publish answered. */
  readonly publishSeconds: number
  readonly publishP50Ms: number
  readonly publishP99Ms: number
  readonly maxPending: number
  readonly verified: boolean
  readonly mismatches: ReadonlyArray<string>
  /** Rows of the `events` table after the drain (queued); null when not counted (embedded: PGlite is in-process). */
  readonly storedRows: number | null
  /** Peak RSS during the drain in bytes per process name (api, worker-1, …). */
  readonly peakRss: Readonly<Record<string, number>>
  readonly deadlocks: number | null
  readonly cpu: CpuBreakdown
  readonly pg: PgActivity | null
  /** Redis memory over the drain (queued); null for embedded drains, which use no Redis. */
  readonly redis: RedisMemory | null
}

export interface DrainOptions {
  readonly servers: Servers
  readonly runId: string
  readonly sequence: EventSequence
  readonly publishConcurrency: number
  readonly stallSeconds: number
  readonly profileDir?: string | undefined
  /** Entries to run instead of the built apps (e.g. another checkout's build). */
  readonly apiMain?: string | undefined
  readonly workerMain?: string | undefined
  /** Node flags for the api and workers. */
  readonly nodeArgs: ReadonlyArray<string>
  readonly log: (line: string) => void
}

const STATS_POLL_MS = 100

/** Poll /stats until drained (or stalled); returns the time drained and the final stats. */
const waitDrained = async (
  client: ApiClient,
  events: number,
  publishing: { done: boolean; failed: boolean },
  stallSeconds: number,
  onStats: (stats: StatsBody) => void
): Promise<{ at: number; stats: StatsBody }> => {
  let progress = -1
  let progressAt = performance.now()
  while (!publishing.failed) {
    const stats = await client.stats()
    const at = performance.now()
    onStats(stats)
    const processed = stats.unique_processed + stats.duplicate_dropped
    if (publishing.done && stats.pending === 0 && processed >= events) return { at, stats }
    if (processed !== progress) {
      progress = processed
      progressAt = at
    } else if (publishing.done && at - progressAt > stallSeconds * 1000) {
      throw new Error(`drain stalled: no progress for ${stallSeconds} s at ${JSON.stringify(stats)}`)
    }
    await new Promise((r) => setTimeout(r, STATS_POLL_MS))
  }
  throw new Error("publishing failed")
}

const checkCounts = (stats: StatsBody, sequence: EventSequence, storedRows: number | null): Array<string> => {
  const expected: Array<[string, number, number | null]> = [
    ["received", stats.received, sequence.events],
    ["unique_processed", stats.unique_processed, sequence.unique],
    ["duplicate_dropped", stats.duplicate_dropped, sequence.duplicates],
    ["conflicts", stats.conflicts, 0],
    ["pending", stats.pending, 0],
    ["stored rows", storedRows ?? sequence.unique, sequence.unique]
  ]
  return expected.flatMap(([name, got, want]) => (got === want ? [] : [`${name}: got ${got}, expected ${want}`]))
}

/** Rows of the events table, found by name in the public schema (null when there is none to count). */
const countStoredRows = (databaseUrl: string): Promise<number | null> =>
  withPgClient(databaseUrl, async (c) => {
    const table = (
      await c.query<{ t: string }>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'events'"
      )
    ).rows[0]
    if (table === undefined) return null
    return Number((await c.query<{ n: string }>("SELECT count(*)::text AS n FROM events")).rows[0]?.n ?? -1)
  })

const publishAndDrain = async (client: ApiClient, options: DrainOptions, embedded: boolean) => {
  const { sequence } = options
  const publishing = { done: false, failed: false }
  let maxPending = 0
  const started = performance.now()
  const publish = client.publishAll(sequence.bodies, options.publishConcurrency).then(
    (latencies) => {
      publishing.done = true
      return { latencies, at: performance.now() }
    },
    (cause: unknown) => {
      publishing.failed = true
      throw cause
    }
  )
  // embedded: every answer means committed, so the last answer ends the drain; /stats only verifies
  const published = embedded ? await publish : undefined
  const drained = await Promise.race([
    waitDrained(client, sequence.events, publishing, options.stallSeconds, (s) => {
      maxPending = Math.max(maxPending, s.pending)
    }),
    publish.then(() => new Promise<never>(() => undefined)) // a publish failure rejects the race
  ])
  const sent = published ?? (await publish)
  const end = embedded ? sent.at : drained.at
  return {
    seconds: (end - started) / 1000,
    publishSeconds: (sent.at - started) / 1000,
    latencies: sent.latencies,
    stats: drained.stats,
    maxPending
  }
}

/**
 * The streams of a deployment's partitions, `{<STREAM_KEY>:p<i>}:stream` (the layout of the storage package's
 * `StreamKeys`, which the bench does not depend on; docs/design.md, "Redis key layout").
 */
const partitionStreams = (streamKey: string, partitions: number): Array<string> =>
  Array.from({ length: partitions }, (_, i) => `{${streamKey}:p${i}}:stream`)

/** What one queued drain runs: worker replicas, log partitions and, optionally, the workers' batch size. */
export interface QueuedDrainOptions extends DrainOptions {
  readonly workers: number
  readonly partitions: number
  readonly workerBatchSize?: number | undefined
}

/** api (queued) → Redis → `workers` workers → PostgreSQL, in a fresh database and stream. */
export const runQueuedDrain = async (options: QueuedDrainOptions): Promise<DrainResult> => {
  const { servers, sequence, workers: count, partitions, workerBatchSize } = options
  const batch = workerBatchSize === undefined ? "" : `b${workerBatchSize}`
  const label = `drain_p${partitions}_w${count}${batch === "" ? "" : `_${batch}`}`
  // process names start with "api"/"worker" (the reports group peak RSS by that) and carry the run's settings
  const tag = `p${partitions}-${count}w${batch === "" ? "" : `-${batch}`}`
  const partitionEnv = { PARTITIONS: String(partitions) }
  const workerEnv =
    workerBatchSize === undefined ? partitionEnv : { ...partitionEnv, WORKER_BATCH_SIZE: String(workerBatchSize) }
  const db = await createDatabase(servers, options.runId, label)
  const stream = createStream(servers, options.runId, label)
  const children: Array<Child> = []
  let redisMemory: Awaited<ReturnType<typeof sampleRedisMemory>> | undefined
  const t0 = performance.now()
  try {
    // api and workers start side by side (each migrates under the migrator's lock); both must be ready
    const [apiStart, workersStart] = await Promise.allSettled([
      startApi({
        name: `api-queued-${tag}`,
        script: options.apiMain,
        nodeArgs: options.nodeArgs,
        config: { mode: "queued", databaseUrl: db.url, redisUrl: servers.redisUrl, streamKey: stream.key },
        profileDir: options.profileDir,
        env: partitionEnv
      }),
      startWorkers({
        count,
        script: options.workerMain,
        nodeArgs: options.nodeArgs,
        databaseUrl: db.url,
        redisUrl: servers.redisUrl,
        streamKey: stream.key,
        profileDir: options.profileDir,
        env: workerEnv,
        namePrefix: `worker-${tag}`
      })
    ])
    if (apiStart.status === "fulfilled") children.push(apiStart.value.child)
    if (workersStart.status === "fulfilled") children.push(...workersStart.value)
    if (apiStart.status === "rejected") throw apiStart.reason
    if (workersStart.status === "rejected") throw workersStart.reason
    const api = apiStart.value
    const workers = workersStart.value
    options.log(
      `  api and ${count} worker(s) (PARTITIONS=${partitions}) ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`
    )
    const pg = await samplePg(servers.postgresUrl, db.name)
    redisMemory = await sampleRedisMemory(servers.redisUrl, partitionStreams(stream.key, partitions))
    const cpu = sampleCpu({
      api: { pids: () => [api.child.pid] },
      workers: { pids: () => workers.map((w) => w.pid) },
      postgres: { comm: "postgres" },
      redis: { comm: "redis-server" },
      bench: { pids: () => [process.pid] }
    })
    for (const child of [api.child, ...workers]) resetPeakRss(child.pid)
    options.log(`  publishing ${sequence.events} events (${sequence.bodies.length} requests) → ${count} worker(s)`)
    const run = await publishAndDrain(api.client, options, false)
    const cpuBreakdown = cpu.stop()
    await pg.pause()
    const redis = await redisMemory.stop()
    const rss: Record<string, number> = {}
    for (const child of [api.child, ...workers]) rss[child.name] = peakRss(child.pid) ?? 0
    api.client.close()
    await Promise.all([...workers, api.child].map((child) => stop(child)))
    const pgActivity = await pg.stop()
    const storedRows = await countStoredRows(db.url)
    const mismatches = checkCounts(run.stats, sequence, storedRows)
    return {
      name:
        `queued, ${count} worker${count > 1 ? "s" : ""}, ${partitions} partition${partitions > 1 ? "s" : ""}` +
        (workerBatchSize === undefined ? "" : `, WORKER_BATCH_SIZE=${workerBatchSize}`),
      mode: "queued",
      workers: count,
      partitions,
      ...(workerBatchSize === undefined ? {} : { workerBatchSize }),
      ...figures(options, run, mismatches),
      storedRows,
      peakRss: rss,
      deadlocks: pgActivity.deadlocks,
      cpu: cpuBreakdown,
      pg: pgActivity,
      redis
    }
  } finally {
    // a drain that failed leaves the sampler running: close its connection (its figures are not wanted)
    await redisMemory?.stop().catch(() => undefined)
    await Promise.all(children.map((child) => stop(child, 5_000)))
    await db.drop()
    await stream.cleanup()
  }
}

/** The fields of a drain result that follow from the events sent, the run and its verification. */
const figures = (
  options: DrainOptions,
  run: Awaited<ReturnType<typeof publishAndDrain>>,
  mismatches: ReadonlyArray<string>
) => {
  const { sequence } = options
  return {
    events: sequence.events,
    unique: sequence.unique,
    duplicates: sequence.duplicates,
    batchSize: sequence.batchSize,
    publishConcurrency: options.publishConcurrency,
    seconds: run.seconds,
    eventsPerSec: sequence.events / run.seconds,
    publishSeconds: run.publishSeconds,
    publishP50Ms: quantile(run.latencies, 0.5),
    publishP99Ms: quantile(run.latencies, 0.99),
    maxPending: run.maxPending,
    verified: mismatches.length === 0,
    mismatches
  }
}

/** The embedded api alone (PGlite in a temporary DATA_DIR). */
export const runEmbeddedDrain = async (options: DrainOptions): Promise<DrainResult> => {
  const { sequence } = options
  const dataDir = mkdtempSync(join(tmpdir(), "agg-bench-"))
  let child: Child | undefined
  const t0 = performance.now()
  try {
    const api = await startApi({
      name: "api-embedded-drain",
      script: options.apiMain,
      nodeArgs: options.nodeArgs,
      config: { mode: "embedded", dataDir },
      profileDir: options.profileDir
    })
    child = api.child
    options.log(`  api ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const cpu = sampleCpu({ api: { pids: () => [api.child.pid] }, bench: { pids: () => [process.pid] } })
    resetPeakRss(api.child.pid)
    options.log(`  publishing ${sequence.events} events (${sequence.bodies.length} requests) → embedded api`)
    const run = await publishAndDrain(api.client, options, true)
    const cpuBreakdown = cpu.stop()
    const rss = { [api.child.name]: peakRss(api.child.pid) ?? 0 }
    api.client.close()
    await stop(api.child)
    const mismatches = checkCounts(run.stats, sequence, null)
    return {
      name: "embedded (PGlite)",
      mode: "embedded",
      workers: 0,
      ...figures(options, run, mismatches),
      storedRows: null,
      peakRss: rss,
      deadlocks: null,
      cpu: cpuBreakdown,
      pg: null,
      redis: null
    }
  } finally {
    if (child !== undefined) await stop(child, 5_000)
    rmSync(dataDir, { recursive: true, force: true })
  }
}
