/**
 * `pnpm bench`: every scenario in one run, each beside its baseline measured in the same run, then
 * `bench/results/<timestamp>.json` + `.md` (the Markdown table is also printed). The flags are in `HELP` below
 * (`pnpm bench --help`).
 *
 * The api and workers inherit this process's environment, so their settings can be tried without a flag
 * (`WORKER_BATCH_SIZE=2000 pnpm bench`); the ones that tune them are recorded in the results. PARTITIONS is the
 * exception: the drains set it on every api and worker they start (the grid of `--partitions`).
 *
 * A scenario that fails is recorded under "errors" and the run goes on; the exit code is 1 if any failed.
 * Targets are reported as ratios with ✓/✗, never asserted.
 *
 * @remarks Needs the built apps (`pnpm bench` builds first), PostgreSQL and Redis (DATABASE_URL / REDIS_URL or the
 * local defaults). Every step works in its own database and stream key, dropped afterwards.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import pg from "pg"
import { type Child, killAll, peakRss, resetPeakRss, stop } from "./Children.ts"
import { makeSequence } from "./Events.ts"
import { formatHttpLayer, runHttpLayer } from "./http/layer.ts"
import { cleanupAll, createDatabase, createStream, defaultServers } from "./Isolation.ts"
import { describeMachine } from "./Machine.ts"
import { formatSummary, type ProfileSummary, profileFiles, summariseFile } from "./profile.ts"
import { type BenchResults, writeResults } from "./Results.ts"
import { bestPartitions, parseCounts, partitionGrid } from "./Scaling.ts"
import { startApi, startParseServer } from "./System.ts"
import { type BatchSizeResult, runBatchSizes, WORKER_BATCH_SIZES } from "./scenarios/BatchSize.ts"
import { type DrainResult, runEmbeddedDrain, runQueuedDrain } from "./scenarios/Drain.ts"
import { type FsyncRow, runFsync } from "./scenarios/Fsync.ts"
import { type IngestRow, type IngestTarget, type LatencyRow, runHttpIngest } from "./scenarios/HttpIngest.ts"
import { type RawInsertResult, runRawInsert } from "./scenarios/RawInsert.ts"
import { runSeedConsumer, type SeedConsumerResult } from "./scenarios/SeedConsumer.ts"
import { runSubscribe, type SubscribeResult } from "./scenarios/Subscribe.ts"

const SCENARIOS = ["baselines", "drain", "embedded", "batch", "http", "http-layer", "fsync", "subscribe"] as const
type Scenario = (typeof SCENARIOS)[number]

const HELP = `pnpm bench [flags]   (or: pnpm --filter @agg/bench start [flags], without the build)

  --quick                 small counts and short HTTP runs: the CI smoke test; figures are not meaningful
  --only a,b              run only these scenarios (default: all, in this order):
                            baselines   raw batched insert and seed-style consumer on the drain's events
                            drain       api → Redis → 1, 2, 4 workers (quick 1, 2) → PostgreSQL at each partition count
                            embedded    the api alone with PGlite
                            batch       2-worker drains at WORKER_BATCH_SIZE 500/1000/2000/5000 (quick 500/5000)
                            http        POST /publish: parse-only servers and the api in both modes
                            http-layer  the api's POST /publish on Fastify and on Effect's HttpRouter
                            fsync       the api's append under Redis appendfsync always / everysec / no
                            subscribe   publish → subscriber latency, fan-out to 100 subscribers
  --partitions a,b        log partition counts (PARTITIONS, given to the api and workers) of the drain grid, each
                          with every worker count; 1 always runs too (default 1,8,16; quick 1,4)
  --batch-partitions N    PARTITIONS of the batch scenario (default: the best count of this run's drain grid, or
                          the largest of --partitions when the drain did not run)
  --events N              events per drain (default 1,000,000; quick 20,000)
  --profile               api and workers of the drains run under node --cpu-prof (bench/results/profiles/<ts>/);
                          the profiles' top self-time functions are added to the report
  --api F, --worker F     entries to run instead of apps/{api,worker}/dist/main.js (e.g. another checkout's build)
  --node-arg X            a Node flag for every api and worker process (repeatable),
                          e.g. --node-arg=--max-semi-space-size=8
  --help                  this text`

/** A bad flag: say which and how, then exit 2. */
function usage(message: string): never {
  console.error(`${message}\n\n${HELP}`)
  process.exit(2)
}

// pnpm forwards `pnpm bench -- --quick` as ["--", "--quick"]: drop the separator
const parsed = (() => {
  try {
    return parseArgs({
      args: process.argv.slice(2).filter((a) => a !== "--"),
      options: {
        help: { type: "boolean", default: false },
        quick: { type: "boolean", default: false },
        profile: { type: "boolean", default: false },
        events: { type: "string" },
        only: { type: "string" },
        partitions: { type: "string" },
        "batch-partitions": { type: "string" },
        api: { type: "string" },
        worker: { type: "string" },
        "node-arg": { type: "string", multiple: true }
      }
    })
  } catch (cause) {
    return usage(cause instanceof Error ? cause.message : String(cause))
  }
})()
const { values } = parsed
if (values.help) {
  console.log(HELP)
  process.exit(0)
}
const quick = values.quick
const events = values.events === undefined ? (quick ? 20_000 : 1_000_000) : Number(values.events)
if (!Number.isInteger(events) || events < 1000) usage(`--events must be an integer ≥ 1000, got ${values.events}`)
const only = (values.only?.split(",") ?? [...SCENARIOS]) as Array<Scenario>
for (const s of only) {
  if (!SCENARIOS.includes(s)) usage(`--only: unknown scenario "${s}" (known: ${SCENARIOS.join(", ")})`)
}
const countsFlag = (flag: string, text: string): Array<number> => {
  try {
    return parseCounts(flag, text, 1, 1024)
  } catch (cause) {
    return usage(cause instanceof Error ? cause.message : String(cause))
  }
}
const partitions = partitionGrid(countsFlag("--partitions", values.partitions ?? (quick ? "1,4" : "1,8,16")))
const batchPartitionsFlag = values["batch-partitions"]
const batchPartitions =
  batchPartitionsFlag === undefined ? undefined : countsFlag("--batch-partitions", batchPartitionsFlag)
if (batchPartitions !== undefined && batchPartitions.length !== 1) {
  usage(`--batch-partitions takes one count, got "${batchPartitionsFlag}"`)
}
const settings = {
  quick,
  profile: values.profile,
  scenarios: only,
  events,
  duplicateRatio: 0.3,
  batchSize: 500,
  seedSample: Math.min(events, quick ? 1_000 : 20_000),
  publishConcurrency: 8,
  drainWorkers: quick ? [1, 2] : [1, 2, 4],
  // the drain grid: every worker count at each of these PARTITIONS; the events' topics hash to the partitions
  partitions,
  topics: 16,
  batchWorkers: 2,
  // quick: the smallest and largest size, enough to show the setting reaches the workers
  workerBatchSizes: quick ? [500, 5000] : [...WORKER_BATCH_SIZES],
  batchPartitions: batchPartitions?.[0] ?? null,
  httpWarmupSeconds: quick ? 0.5 : 2,
  httpSeconds: quick ? 2 : 10,
  httpRounds: quick ? 1 : 5,
  httpSizes: [1, 500],
  httpConnections: { single: 50, batch: 16 },
  parseOnlyServers: quick ? ["node-http"] : ["node-http", "fastify", "effect"],
  latencyLoad: 0.5,
  latencySeconds: quick ? 1 : 5,
  latencySizes: quick ? [1] : [1, 500],
  // the HTTP-layer comparison; quick: single events only, under 10 s (2-3 s of it starting the four servers)
  httpLayer: {
    sizes: quick ? [1] : [1, 500],
    warmupSeconds: quick ? 0 : 1,
    seconds: quick ? 0.5 : 9,
    rounds: quick ? 1 : 3
  },
  nodeArgs: values["node-arg"] ?? [],
  // the api and workers inherit this process's environment: record what tunes them
  appEnv: Object.fromEntries(
    Object.entries(process.env).filter(([k]) =>
      /^(WORKER_|COMMIT_|DB_POOL_SIZE$|ACCESS_LOG$|LOG_LEVEL$|NODE_OPTIONS$|MAX_|PARTITIONS$)/.test(k)
    )
  )
}

const started = new Date()
const stamp = started.toISOString().replace(/[:.]/g, "-")
const runId = stamp.slice(0, 19).replace(/[-T]/g, "").toLowerCase()
const resultsDir = fileURLToPath(new URL("../results", import.meta.url))
const profileDir = settings.profile ? join(resultsDir, "profiles", stamp) : undefined
if (profileDir) mkdirSync(profileDir, { recursive: true })
const servers = defaultServers()
const log = (line: string) => console.log(line)

const errors: Array<{ scenario: string; message: string }> = []
const attempt = async <A>(scenario: string, f: () => Promise<A>): Promise<A | undefined> => {
  const t0 = performance.now()
  log(`▶ ${scenario}`)
  try {
    const result = await f()
    log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    return result
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    errors.push({ scenario, message })
    log(`  ✗ ${scenario} failed: ${message}`)
    return undefined
  }
}

// Interrupted: stop the children, then drop what the run created, so no agg_bench_* database or key is left
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll()
    void cleanupAll().finally(() => process.exit(130))
  })
}

const machine = await describeMachine(servers)
log(
  `@agg bench ${quick ? "(quick) " : ""}on ${machine.cpuModel} × ${machine.cores}, ${machine.ramGiB} GiB, Node ${machine.node}, ` +
    `PostgreSQL ${machine.postgres}, Redis ${machine.redis}; ${events.toLocaleString("en-US")} events, 30% duplicates`
)
const sequence = makeSequence({
  events,
  duplicateRatio: settings.duplicateRatio,
  batchSize: settings.batchSize,
  idPrefix: `b${runId}`,
  topics: settings.topics
})

/** A fresh database for a baseline, with one connection, dropped afterwards. */
const withBaselineDb = async <A>(label: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const db = await createDatabase(servers, runId, label)
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
    await db.drop()
  }
}

let rawInsert: RawInsertResult | null = null
let seedConsumer: SeedConsumerResult | null = null
if (only.includes("baselines")) {
  rawInsert =
    (await attempt("baseline: raw batched insert", () =>
      withBaselineDb("raw", (c) => runRawInsert(c, sequence)).then((r) => {
        log(`  ${Math.round(r.eventsPerSec)} ev/s over ${r.seconds.toFixed(2)} s, verified ${r.verified}`)
        return r
      })
    )) ?? null
  const sample = makeSequence({
    events: settings.seedSample,
    duplicateRatio: settings.duplicateRatio,
    batchSize: settings.batchSize,
    idPrefix: `b${runId}`,
    topics: settings.topics
  })
  seedConsumer =
    (await attempt("baseline: seed-style consumer", () =>
      withBaselineDb("seed", (c) => runSeedConsumer(c, sample, events)).then((r) => {
        log(`  ${Math.round(r.eventsPerSec)} ev/s on ${r.events} events, verified ${r.verified}`)
        return r
      })
    )) ?? null
}

const drains: Array<DrainResult> = []
const drainOptions = {
  servers,
  runId,
  sequence,
  publishConcurrency: settings.publishConcurrency,
  stallSeconds: 60,
  profileDir,
  apiMain: values.api,
  workerMain: values.worker,
  nodeArgs: settings.nodeArgs,
  log
}
const logDrain = (d: DrainResult) =>
  log(
    `  ${Math.round(d.eventsPerSec)} ev/s (${d.seconds.toFixed(2)} s; publishing took ${d.publishSeconds.toFixed(2)} s), ` +
      `${d.verified ? "verified exactly" : `MISMATCH: ${d.mismatches.join("; ")}`}, deadlocks ${d.deadlocks ?? "–"}`
  )
if (only.includes("drain")) {
  for (const p of settings.partitions) {
    for (const workers of settings.drainWorkers) {
      const d = await attempt(
        `end-to-end drain: api → Redis (PARTITIONS=${p}) → ${workers} worker(s) → PostgreSQL`,
        () => runQueuedDrain({ ...drainOptions, workers, partitions: p })
      )
      if (d) {
        logDrain(d)
        drains.push(d)
      }
    }
  }
}
if (only.includes("embedded")) {
  const d = await attempt("embedded drain: api with PGlite", () => runEmbeddedDrain(drainOptions))
  if (d) {
    logDrain(d)
    drains.push(d)
  }
}

// The workers' batch size, at one partition count: the flag's, else the best of the grid just measured
let batch: BatchSizeResult | null = null
if (only.includes("batch")) {
  const best = bestPartitions(drains)
  const [p, from] =
    settings.batchPartitions !== null
      ? [settings.batchPartitions, "--batch-partitions"]
      : best !== undefined
        ? [best, "the best of this run's drain grid"]
        : [Math.max(...settings.partitions), "the largest of --partitions: no drain grid ran"]
  log(`▶ batch size: ${settings.batchWorkers} workers at PARTITIONS=${p} (${from})`)
  batch = await runBatchSizes(
    {
      ...drainOptions,
      workers: settings.batchWorkers,
      partitions: p,
      partitionsFrom: from,
      sizes: settings.workerBatchSizes
    },
    attempt,
    logDrain
  )
}

const httpIngest: Array<IngestRow> = []
const latency: Array<LatencyRow> = []
if (only.includes("http")) {
  await attempt("HTTP ingest: parse-only servers and the api in both modes, interleaved", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "agg-bench-http-"))
    const db = await createDatabase(servers, runId, "http_q")
    const stream = createStream(servers, runId, "http_q")
    const running: Array<{ target: IngestTarget; child: Child }> = []
    try {
      for (const kind of settings.parseOnlyServers) {
        const server = await startParseServer(kind)
        const name = `${kind === "node-http" ? "node:http" : kind} parse-only`
        running.push({ target: { name, url: server.url, latency: false }, child: server.child })
      }
      const embedded = await startApi({
        name: "api-embedded-http",
        script: values.api,
        nodeArgs: settings.nodeArgs,
        config: { mode: "embedded", dataDir }
      })
      running.push({ target: { name: "api embedded", url: embedded.url, latency: true }, child: embedded.child })
      embedded.client.close()
      const queued = await startApi({
        name: "api-queued-http",
        script: values.api,
        nodeArgs: settings.nodeArgs,
        config: { mode: "queued", databaseUrl: db.url, redisUrl: servers.redisUrl, streamKey: stream.key },
        // No worker drains this stream: the backlog only grows, and the high-water mark would turn the measurement
        // into 503s. Backpressure is tested on its own; here the ceiling is lifted.
        env: { MAX_BACKLOG: "1000000000" }
      })
      running.push({ target: { name: "api queued (no workers)", url: queued.url, latency: true }, child: queued.child })
      queued.client.close()
      for (const x of running) resetPeakRss(x.child.pid)
      const r = await runHttpIngest(
        running.map((x) => x.target),
        {
          sizes: settings.httpSizes,
          connections: (size) => (size === 1 ? settings.httpConnections.single : settings.httpConnections.batch),
          warmupSeconds: settings.httpWarmupSeconds,
          seconds: settings.httpSeconds,
          rounds: settings.httpRounds,
          latencySizes: settings.latencySizes,
          latencyLoad: settings.latencyLoad,
          latencySeconds: settings.latencySeconds
        },
        log
      )
      const rss = new Map(running.map((x) => [x.target.name, peakRss(x.child.pid) ?? 0]))
      httpIngest.push(...r.ingest.map((row) => ({ ...row, peakRss: rss.get(row.target) ?? 0 })))
      latency.push(...r.latency)
    } finally {
      for (const x of running) await stop(x.child)
      rmSync(dataDir, { recursive: true, force: true })
      await db.drop()
      await stream.cleanup()
    }
  })
}

if (only.includes("http-layer")) {
  await attempt("HTTP layer: the api's POST /publish on the api (Fastify) and Effect HttpRouter", async () => {
    const rows = await runHttpLayer(
      {
        ...settings.httpLayer,
        connections: (size) => (size === 1 ? settings.httpConnections.single : settings.httpConnections.batch)
      },
      log
    )
    httpIngest.push(...rows)
    log(formatHttpLayer(rows))
  })
}

// What appendfsync always costs the 2xx path, against everysec and no, each on a private Redis.
let fsync: ReadonlyArray<FsyncRow> = []
if (only.includes("fsync")) {
  fsync =
    (await attempt("Redis fsync: the api's append under appendfsync always / everysec / no", async () => {
      const rows = await runFsync({ events: quick ? 20_000 : 200_000, eventsPerRequest: 100, concurrency: 16 })
      for (const r of rows) log(`  ${r.policy}: ${Math.round(r.eventsPerSec)} ev/s`)
      return rows
    })) ?? []
}

let subscribe: SubscribeResult | null = null
if (only.includes("subscribe")) {
  subscribe =
    (await attempt("subscribers: publish → subscriber latency at half the max rate, fan-out to 100", () =>
      runSubscribe({
        latencyEvents: quick ? 200 : 3_000,
        fanOutSubscribers: 100,
        fanOutEvents: quick ? 500 : 5_000,
        log
      })
    )) ?? null
}

const profiles: Array<ProfileSummary> = profileDir ? profileFiles(profileDir).map((f) => summariseFile(f)) : []
for (const p of profiles) log(formatSummary(p, 15))

const results: BenchResults = {
  startedAt: started.toISOString(),
  totalSeconds: (Date.now() - started.getTime()) / 1000,
  options: settings,
  machine,
  rawInsert,
  seedConsumer,
  drains,
  batch,
  httpIngest,
  latency,
  fsync,
  subscribe,
  errors,
  profiles
}
const written = writeResults(resultsDir, stamp, results)
log(`\n${written.markdown}\n`)
log(`results: ${written.json}\n         ${written.md}`)
killAll()
process.exit(errors.length > 0 ? 1 : 0)
