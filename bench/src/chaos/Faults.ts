/**
 * The system under chaos and the faults fired at it: its own PostgreSQL and Redis (`@agg/testing`'s private servers,
 * AOF fsynced always), the api in queued mode on a fixed port (so a restart keeps its address) and worker replicas
 * with a fresh consumer name each start. The apps run from their sources (`node --conditions=@agg/source`, as the
 * e2e tests run them): no build step, and never a stale build. Each fault does one thing (kill -9 a worker, SIGTERM one, kill -9
 * the api, restart or kill -9 Redis, restart or crash PostgreSQL), brings the system back to full strength (a new
 * worker, the api, the server started again), waits until it recovered, and says what it saw.
 *
 * @remarks Never signals a process it did not start; the servers are torn down by the caller (`teardown`).
 */

import { fileURLToPath } from "node:url"
import { freePort } from "@agg/testing/Ports"
import { startPrivatePostgres } from "@agg/testing/PrivatePostgres"
import { startPrivateRedis } from "@agg/testing/PrivateRedis"
import { createClient } from "redis"
import { ApiClient } from "../ApiClient.ts"
import { type Child, isRunning, startNode, stop, waitReady } from "../Children.ts"
import { startWorkers } from "../System.ts"

/** The stream key of the run (the private Redis holds nothing else). */
const STREAM_KEY = "chaos:events"
// The names, as @agg/storage's StreamKeys builds them for STREAM_KEY: partition i's stream, the recorded partition
// count, the default group.
const streamOf = (partition: number) => `{${STREAM_KEY}:p${partition}}:stream`
const PARTITION_COUNT = `{${STREAM_KEY}}:partitions`
const GROUP = `${STREAM_KEY}:workers`

/** A running system: servers, api, workers, and a way to look at the consumer group. */
export interface System {
  readonly apiUrl: string
  readonly api: ApiClient
  readonly databaseUrl: string
  /** Workers currently running, oldest first. */
  readonly workers: () => ReadonlyArray<Child>
  /** Pending entries per consumer, and the group's consumer names. */
  readonly group: () => Promise<{
    readonly pending: ReadonlyMap<string, number>
    readonly consumers: ReadonlySet<string>
  }>
  readonly servers: {
    readonly postgres: Awaited<ReturnType<typeof startPrivatePostgres>>
    readonly redis: Awaited<ReturnType<typeof startPrivateRedis>>
  }
  /** Start one more worker (a new consumer name). */
  readonly addWorker: () => Promise<Child>
  /** Start the api again on the same port. */
  readonly restartApi: () => Promise<void>
  readonly currentApi: () => Child
  /** Stop everything: workers and api (SIGTERM), then the servers. */
  readonly teardown: () => Promise<void>
}

const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url))
const SOURCE = ["--conditions=@agg/source"]
const API_SOURCE = repoFile("apps/api/src/main.ts")
const WORKER_SOURCE = repoFile("apps/worker/src/main.ts")

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Poll `done` every 50 ms until true; false after `timeoutMs`. */
export const waitUntil = async (done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await done().catch(() => false)) return true
    await sleep(50)
  }
  return false
}

/** Start the private servers, the api and `workers` workers. */
export const startSystem = async (options: {
  readonly workers: number
  readonly workerEnv: Readonly<Record<string, string>>
  readonly apiEnv: Readonly<Record<string, string>>
}): Promise<System> => {
  const [postgres, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()])
  const databaseUrl = postgres.url
  const port = await freePort()
  const apiUrl = `http://127.0.0.1:${port}`
  const api = new ApiClient(apiUrl, 32)
  const admin = createClient({ url: redis.url, RESP: 2 }).on("error", () => undefined)
  await admin.connect()

  const spawnApi = async () => {
    const child = startNode({
      name: "api",
      script: API_SOURCE,
      nodeArgs: SOURCE,
      env: {
        DATABASE_URL: databaseUrl,
        REDIS_URL: redis.url,
        STREAM_KEY,
        PORT: String(port),
        HOST: "127.0.0.1",
        LOG_LEVEL: "Warn",
        ACCESS_LOG: "false",
        REQUIRE_AOF: "true",
        ...options.apiEnv
      }
    })
    await waitReady(child, () => api.healthy())
    return child
  }
  let apiChild = await spawnApi()

  let generation = 0
  const running: Array<Child> = []
  const addWorker = async () => {
    const [child] = await startWorkers({
      count: 1,
      script: WORKER_SOURCE,
      nodeArgs: SOURCE,
      databaseUrl,
      redisUrl: redis.url,
      streamKey: STREAM_KEY,
      namePrefix: `w${++generation}`,
      // Info: readiness is the "worker started" line.
      env: { LOG_LEVEL: "Info", ...options.workerEnv }
    })
    if (child === undefined) throw new Error("no worker started")
    running.push(child)
    return child
  }
  for (let i = 0; i < options.workers; i++) await addWorker()

  return {
    apiUrl,
    api,
    databaseUrl,
    workers: () => running.filter(isRunning),
    // Summed over every partition of the log.
    group: async () => {
      const count = Number((await admin.get(PARTITION_COUNT)) ?? 1)
      const pending = new Map<string, number>()
      const names = new Set<string>()
      for (let i = 0; i < count; i++) {
        const consumers = (await admin.xInfoConsumers(streamOf(i), GROUP)) as unknown as Array<{
          readonly name: string
          readonly pending: number
        }>
        for (const c of consumers) {
          names.add(c.name)
          if (c.pending > 0) pending.set(c.name, (pending.get(c.name) ?? 0) + c.pending)
        }
      }
      return { pending, consumers: names }
    },
    servers: { postgres, redis },
    addWorker,
    restartApi: async () => {
      await apiChild.exited
      apiChild = await spawnApi()
    },
    currentApi: () => apiChild,
    teardown: async () => {
      await Promise.all([...running.filter(isRunning), apiChild].map((c) => stop(c, 10_000)))
      admin.destroy()
      api.close()
      await Promise.all([postgres.teardown(), redis.teardown()])
    }
  }
}

/** What one fault did. */
export interface FaultOutcome {
  readonly ok: boolean
  readonly outcome: string
}

/** A fault of the schedule. */
export interface Fault {
  readonly name: string
  readonly run: (system: System) => Promise<FaultOutcome>
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Wait until the api's /health is 200 again; the time it took. */
const healthyAgain = async (system: System, since: number, timeoutMs = 120_000) =>
  (await waitUntil(() => system.api.healthy(), timeoutMs)) ? Date.now() - since : undefined

/** kill -9 of the oldest worker while it holds entries; a new worker replaces it. */
const killWorker: Fault = {
  name: "worker kill -9",
  run: async (system) => {
    const victim = system.workers()[0]
    if (victim === undefined) return { ok: false, outcome: "no worker running" }
    // Kill it while it holds entries it has read and not acknowledged (give up waiting after 5 s: kill anyway).
    await waitUntil(async () => ((await system.group()).pending.get(victim.name) ?? 0) > 0, 5_000)
    victim.process.kill("SIGKILL")
    const killedAt = Date.now()
    await victim.exited
    const held = (await system.group()).pending.get(victim.name) ?? 0
    const replacement = system.addWorker()
    const moved = await waitUntil(async () => ((await system.group()).pending.get(victim.name) ?? 0) === 0, 60_000)
    const after = Date.now() - killedAt
    const removed = await waitUntil(async () => !(await system.group()).consumers.has(victim.name), 30_000)
    await replacement
    return {
      ok: moved && removed,
      outcome: moved
        ? `${victim.name} held ${held}${held === 0 ? "" : `; taken over after ${seconds(after)}`}${removed ? ", removed from the group" : ", NOT removed"}`
        : `${victim.name}'s ${held} entries never taken over`
    }
  }
}

/** SIGTERM of the oldest worker: it must exit 0 having acked what it held; a new worker replaces it. */
const termWorker: Fault = {
  name: "worker SIGTERM",
  run: async (system) => {
    const victim = system.workers()[0]
    if (victim === undefined) return { ok: false, outcome: "no worker running" }
    const started = Date.now()
    const exit = await stop(victim, 30_000)
    const left = (await system.group()).pending.get(victim.name) ?? 0
    await system.addWorker()
    return {
      ok: exit === 0 && left === 0,
      outcome: `${victim.name} exited ${exit} after ${seconds(Date.now() - started)}, ${left} entries left pending`
    }
  }
}

/** kill -9 of the api, then start it again on the same port. */
const killApi: Fault = {
  name: "api kill -9",
  run: async (system) => {
    const started = Date.now()
    system.currentApi().process.kill("SIGKILL")
    await system.restartApi()
    return { ok: true, outcome: `serving again after ${seconds(Date.now() - started)}` }
  }
}

const redisDown = (name: string, down: (system: System) => Promise<unknown>, downMs: number): Fault => ({
  name,
  run: async (system) => {
    const started = Date.now()
    await down(system)
    const sawDown = await waitUntil(async () => !(await system.api.healthy()), 5_000)
    await sleep(downMs)
    await system.servers.redis.start()
    const back = await healthyAgain(system, started)
    return {
      ok: back !== undefined,
      outcome: `down ${seconds(downMs)}${sawDown ? " (/health 503)" : ""}; healthy again after ${back === undefined ? "never" : seconds(back)}`
    }
  }
})

const postgresFault = (name: string, fault: (system: System) => Promise<unknown>): Fault => ({
  name,
  run: async (system) => {
    const started = Date.now()
    await fault(system)
    const back = await healthyAgain(system, started)
    return { ok: back !== undefined, outcome: `healthy again after ${back === undefined ? "never" : seconds(back)}` }
  }
})

/** Every kind of fault, by name. */
export const faults = (options: { readonly downMs: number }) => ({
  killWorker,
  termWorker,
  killApi,
  redisShutdown: redisDown("Redis SHUTDOWN + start", (s) => s.servers.redis.shutdown(), options.downMs),
  redisKill: redisDown("Redis kill -9 + start", (s) => s.servers.redis.kill9(), options.downMs),
  postgresRestart: postgresFault("PostgreSQL restart (fast)", (s) => s.servers.postgres.restart({ mode: "fast" })),
  postgresCrash: postgresFault("PostgreSQL immediate stop + start", async (s) => {
    await s.servers.postgres.crash()
    await sleep(options.downMs)
    await s.servers.postgres.start()
  })
})
