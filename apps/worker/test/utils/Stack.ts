/**
 * The distributed deployment (api → Redis stream → workers → PostgreSQL) as real processes, for one test: the api in
 * queued mode and N workers, all pointed at the test's own PostgreSQL database and Redis stream key (from
 * @agg/testing). Processes live in the test's scope; workers and the api can be killed, stopped and started again on
 * the same settings.
 *
 * Deliberately does not publish or verify anything (see Publish.ts and Verify.ts).
 */
import { freePort } from "@agg/testing/Ports"
import { entries, type Proc, spawnNode, tail } from "@agg/testing/Processes"
import { TestDatabase, TestRedis } from "@agg/testing/TestServices"
import { Data, Effect, Exit, Option, type Scope } from "effect"
import { getText, waitFor, waitHealthy } from "./Http.ts"

/** A process of the stack exited while it was starting. */
export class ProcessExited extends Data.TaggedError("ProcessExited")<{ readonly message: string }> {}

/** The application_name the workers' PostgreSQL connections carry, to find (and terminate) them. */
export const WORKER_APPLICATION_NAME = "agg-e2e-worker"

/** Options of `startStack`. */
export interface StackOptions {
  /** Workers started with the stack (default 3). */
  readonly workers?: number
  /** Extra environment for every worker (e.g. WORKER_MAX_DELIVERIES). */
  readonly workerEnv?: Readonly<Record<string, string>>
  /** Extra environment for the api (e.g. ADMIN_API_KEYS). */
  readonly apiEnv?: Readonly<Record<string, string>>
  /**
   * Where every process finds Redis, replacing `REDIS_URL` of the test's Redis (e.g. `REDIS_CLUSTER_NODES` of a
   * private cluster). The stream key stays the test's own.
   */
  readonly redisEnv?: Readonly<Record<string, string>>
}

/** A running api + workers. */
export interface Stack {
  readonly apiUrl: string
  readonly databaseUrl: string
  readonly databaseName: string
  readonly redisUrl: string
  readonly streamKey: string
  /** The current api process. */
  readonly api: () => Proc
  /** Every worker started so far (running or not), in start order. */
  readonly workers: () => ReadonlyArray<Proc>
  /** Start one more worker (consumer name `w<n>`) and wait until it runs. */
  readonly startWorker: Effect.Effect<Proc, unknown, Scope.Scope>
  /** Start the api again on the same port after the previous one exited, and wait until it serves. */
  readonly restartApi: Effect.Effect<Proc, unknown, Scope.Scope>
  /** Each running worker's figures from its WORKER_METRICS_PORT, summed by metric name. */
  readonly workerMetrics: Effect.Effect<ReadonlyMap<string, number>, unknown>
  /** The last output of every process, for failure messages. */
  readonly describe: () => string
}

/** Parse Prometheus text (unlabelled samples only, which is all the worker emits). */
const parsePrometheus = (text: string): ReadonlyMap<string, number> =>
  new Map(
    text
      .split("\n")
      .filter((line) => line.length > 0 && !line.startsWith("#"))
      .map((line) => {
        const [name = "", value = "NaN"] = line.split(" ")
        return [name, Number(value)] as const
      })
  )

// Small reclaim idle time, interval and block, so a dead worker's entries come back within seconds, not 30 s.
const defaultWorkerEnv = {
  WORKER_RECLAIM_IDLE_MS: "2000",
  WORKER_RECLAIM_INTERVAL_MS: "500",
  WORKER_BLOCK_MS: "200",
  WORKER_BATCH_SIZE: "500",
  LOG_LEVEL: "Info"
}

/** Start the api (queued mode) and the workers; returns once the api answers /health. */
export const startStack = (
  options: StackOptions = {}
): Effect.Effect<Stack, unknown, Scope.Scope | TestDatabase | TestRedis> =>
  Effect.gen(function* () {
    const db = yield* TestDatabase
    const redis = yield* TestRedis
    const port = yield* Effect.promise(freePort)
    const streamKey = `${redis.prefix}:events`
    const apiUrl = `http://127.0.0.1:${port}`
    const workerDbUrl = new URL(db.url)
    workerDbUrl.searchParams.set("application_name", WORKER_APPLICATION_NAME)
    const shared = { ...(options.redisEnv ?? { REDIS_URL: redis.url }), STREAM_KEY: streamKey }

    const processes: Array<Proc> = []
    const workers: Array<Proc> = []
    let started = 0
    const metricsUrls = new Map<Proc, string>()
    const describe = () => processes.map((p) => tail(p)).join("\n")
    // Registered first, so it runs last: after every process was killed, print what they said if the test failed.
    yield* Effect.addFinalizer((exit) =>
      Exit.isFailure(exit) ? Effect.sync(() => console.error(`e2e stack output:\n${describe()}`)) : Effect.void
    )

    const spawnApi = Effect.gen(function* () {
      const proc = yield* spawnNode("api", entries.api, {
        env: {
          ...shared,
          DATABASE_URL: db.url,
          PORT: String(port),
          HOST: "127.0.0.1",
          LOG_LEVEL: "Warn",
          ACCESS_LOG: "false",
          ...options.apiEnv
        }
      })
      processes.push(proc)
      // Ready when /health answers; an api that exits first fails the start at once, with its output.
      yield* Effect.raceFirst(
        waitHealthy(`${apiUrl}/health`, { timeoutMs: 30_000, context: () => tail(proc) }),
        proc.exit.pipe(
          Effect.flatMap((status) =>
            Effect.fail(
              new ProcessExited({
                message: `api exited before it was healthy: ${JSON.stringify(status)}\n${tail(proc)}`
              })
            )
          )
        )
      )
      return proc
    })

    const startWorker = Effect.gen(function* () {
      const n = ++started
      const metricsPort = yield* Effect.promise(freePort)
      const proc = yield* spawnNode(`worker w${n}`, entries.worker, {
        env: {
          WORKER_METRICS_PORT: String(metricsPort),
          ...defaultWorkerEnv,
          ...options.workerEnv,
          ...shared,
          DATABASE_URL: workerDbUrl.toString(),
          WORKER_CONSUMER: `w${n}`
        }
      })
      processes.push(proc)
      workers.push(proc)
      metricsUrls.set(proc, `http://127.0.0.1:${metricsPort}/metrics`)
      // Ready once it logged "worker started" (its stores are open and its signal handlers installed), so a test
      // that signals it exercises the running consumer, not Node's default action during module loading.
      yield* Effect.raceFirst(
        waitFor("the worker to start", Effect.sync(proc.output), (out) => out.includes('"worker started"'), {
          timeoutMs: 30_000,
          intervalMs: 20,
          context: () => tail(proc)
        }),
        proc.exit.pipe(
          Effect.flatMap((status) =>
            Effect.fail(
              new ProcessExited({ message: `${proc.name} exited at start: ${JSON.stringify(status)}\n${tail(proc)}` })
            )
          )
        )
      )
      return proc
    })

    let api = yield* spawnApi
    yield* Effect.forEach(Array.from({ length: options.workers ?? 3 }), () => startWorker, { concurrency: "unbounded" })

    const restartApi = Effect.gen(function* () {
      yield* api.exit
      api = yield* spawnApi
      return api
    })

    const workerMetrics = Effect.gen(function* () {
      const running = workers.filter((w) => Option.isNone(w.status()))
      const texts = yield* Effect.forEach(running, (w) => getText(metricsUrls.get(w) ?? ""), {
        concurrency: "unbounded"
      })
      const sums = new Map<string, number>()
      for (const text of texts)
        for (const [name, value] of parsePrometheus(text)) sums.set(name, (sums.get(name) ?? 0) + value)
      return sums
    })

    return {
      apiUrl,
      workerMetrics,
      databaseUrl: db.url,
      databaseName: db.name,
      redisUrl: redis.url,
      streamKey,
      api: () => api,
      workers: () => workers,
      startWorker,
      restartApi,
      describe
    } satisfies Stack
  })
