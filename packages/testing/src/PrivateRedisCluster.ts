/**
 * A private Redis Cluster of three masters for one test file or script: three `startPrivateRedis()` servers
 * (each on its own free port of 127.0.0.1 with its own temporary directory, AOF fsynced before every reply and an
 * exit hook) started in cluster mode, joined by `redis-cli --cluster create` so that each master owns a third of
 * the 16384 hash slots. Tests use it to check that the code keeps every key of a partition in one slot (a hash tag
 * `{…}`), and to kill one master and start it again on the same port and directory (its AOF and `nodes.conf`
 * are replayed, so it comes back with its data and its slots).
 *
 * Two shapes of the same helper, like PrivateRedis: `startPrivateRedisCluster()` for scripts,
 * `usePrivateRedisCluster()` for vitest (`beforeAll`/`afterAll`). `stop` kills every node and removes every
 * directory.
 *
 * @remarks There are no replicas, so nothing fails over: while a master is down its slots are unreachable, and
 * once the node timeout (2 s) has passed the other masters mark it failed and the whole cluster answers
 * CLUSTERDOWN, for every slot, until it is back. Does not set a password, a memory limit or RDB snapshots.
 */
import { spawn } from "node:child_process"
import { createClient } from "redis"
import { useForFile } from "./Lifecycle.ts"
import { freePort } from "./Ports.ts"
import { type PrivateRedis, type RedisExit, startPrivateRedis } from "./PrivateRedis.ts"

export type { RedisExit } from "./PrivateRedis.ts"

const NODE_COUNT = 3
const SLOT_COUNT = 16384
const NODE_TIMEOUT_MS = 2_000
const CREATE_TIMEOUT_MS = 30_000
const WAIT_OK_TIMEOUT_MS = 30_000
const POLL_INTERVAL_MS = 100
const PORT_ATTEMPTS = 3
const LOG_TAIL_LINES = 40
const HOST = "127.0.0.1"

/**
 * Options of `startPrivateRedisCluster`.
 *
 * @category models
 */
export interface PrivateRedisClusterOptions {
  /** The server binary; default `redis-server` on PATH. */
  readonly command?: string
  /** The client binary that joins the nodes (`--cluster create`); default `redis-cli` on PATH. */
  readonly cli?: string
  /** Extra command-line settings for every node; they come after ours, so they win. */
  readonly args?: ReadonlyArray<string>
}

/**
 * One master of the cluster.
 *
 * @category models
 */
export interface ClusterNode {
  /** Always `127.0.0.1`. */
  readonly host: string
  readonly port: number
  /** `redis://127.0.0.1:<port>` (no password): a plain connection to this node alone. */
  readonly url: string
  /** The node's temporary directory: its AOF (`appendonlydir/`) and `nodes.conf`. */
  readonly dir: string
}

/**
 * A running (or partly stopped) private cluster. Operations taking an index throw for anything but 0, 1 or 2.
 *
 * @category models
 */
export interface PrivateRedisCluster {
  /** The three masters, index 0 to 2. */
  readonly nodes: ReadonlyArray<ClusterNode>
  /** `127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>`, the format of `REDIS_CLUSTER_NODES`. */
  readonly rootNodes: string
  /** The index of the master serving the slot of `key` (a hash tag `{…}` counts), asked of a running node. */
  readonly nodeFor: (key: string) => Promise<number>
  /** Whether node `index`'s process is alive. */
  readonly running: (index: number) => boolean
  /** SIGKILL node `index`; resolves with its exit once it is gone. Rejects if it is not running. */
  readonly kill: (index: number) => Promise<RedisExit>
  /**
   * Start node `index` again on its port and directory (AOF and `nodes.conf` replayed); resolves once the whole
   * cluster is ok again. Rejects if it is running.
   */
  readonly start: (index: number) => Promise<void>
  /**
   * Resolve once every node reports, in `CLUSTER INFO`, `cluster_state:ok`, all 16384 slots assigned and ok and
   * 3 known nodes; default limit 30 s. Rejects at once if a node is not running.
   */
  readonly waitOk: (timeoutMs?: number) => Promise<void>
  /** Node `index`'s output since its last start, for failure messages. */
  readonly output: (index: number) => string
  /** Kill every node still running and remove every directory. Idempotent; never throws. */
  readonly stop: () => Promise<void>
}

const message = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const lastLines = (text: string): string => text.split("\n").slice(-LOG_TAIL_LINES).join("\n")

const addressInUse = (cause: unknown): boolean => /address already in use/i.test(message(cause))

const plainClient = (url: string) =>
  createClient({ url, RESP: 2, socket: { reconnectStrategy: false, connectTimeout: 2_000 } }).on(
    "error",
    () => undefined
  )

const withClient = async <A>(url: string, f: (client: ReturnType<typeof plainClient>) => Promise<A>): Promise<A> => {
  const client = await plainClient(url).connect()
  try {
    return await f(client)
  } finally {
    client.destroy()
  }
}

/**
 * One cluster-mode server. The cluster bus port is picked with `freePort` (port + 10000, Redis's default, can
 * exceed 65535); if it was taken meanwhile, try again with a fresh one (`startPrivateRedis` retries its own port).
 */
const startNode = async (options: PrivateRedisClusterOptions): Promise<PrivateRedis> => {
  for (let attempt = 1; ; attempt++) {
    const busPort = await freePort()
    try {
      return await startPrivateRedis({
        ...(options.command === undefined ? {} : { command: options.command }),
        args: [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          String(NODE_TIMEOUT_MS),
          "--cluster-port",
          String(busPort),
          ...(options.args ?? [])
        ]
      })
    } catch (cause) {
      if (!addressInUse(cause) || attempt >= PORT_ATTEMPTS) throw cause
    }
  }
}

/** Run `redis-cli --cluster create` over the nodes: three masters, no replicas, no prompt. */
const createCluster = (cli: string, hostPorts: ReadonlyArray<string>): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(cli, ["--cluster", "create", ...hostPorts, "--cluster-replicas", "0", "--cluster-yes"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const append = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-64 * 1024)
    }
    child.stdout?.on("data", append)
    child.stderr?.on("data", append)
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${cli} --cluster create did not finish within ${CREATE_TIMEOUT_MS} ms:\n${output}`))
    }, CREATE_TIMEOUT_MS)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(new Error(`could not run ${cli}: ${error.message}`))
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`${cli} --cluster create exited (${code ?? signal}):\n${output}`))
    })
  })

/** `CLUSTER INFO` as a map of its `field:value` lines. */
const clusterInfo = async (url: string): Promise<Map<string, string>> => {
  // node-redis 6.3 types the reply as text; it is the raw `field:value\r\n…` listing.
  const text = String(await withClient(url, (client) => client.clusterInfo()))
  const fields = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":")
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim())
  }
  return fields
}

/** Why a node's `CLUSTER INFO` is not yet the healthy one, or undefined if it is. */
const notOk = (info: Map<string, string>): string | undefined => {
  const expected: ReadonlyArray<readonly [string, string]> = [
    ["cluster_state", "ok"],
    ["cluster_slots_assigned", String(SLOT_COUNT)],
    ["cluster_slots_ok", String(SLOT_COUNT)],
    ["cluster_known_nodes", String(NODE_COUNT)]
  ]
  const wrong = expected.filter(([field, value]) => info.get(field) !== value)
  return wrong.length === 0 ? undefined : wrong.map(([field]) => `${field}:${info.get(field) ?? "?"}`).join(" ")
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Start three cluster-mode servers, join them into one cluster and wait until it is ok. On failure every node
 * started is killed and its directory removed before the promise rejects; the error carries each node's last
 * output.
 *
 * @category constructors
 * @example
 * const cluster = await startPrivateRedisCluster()
 * const client = await createCluster({ rootNodes: cluster.nodes.map(({ url }) => ({ url })) }).connect()
 * await client.xAdd("{orders:p0}:stream", "*", { n: "1" })
 * await cluster.kill(await cluster.nodeFor("{orders:p0}:stream"))
 * await cluster.stop()
 */
export const startPrivateRedisCluster = async (
  options: PrivateRedisClusterOptions = {}
): Promise<PrivateRedisCluster> => {
  const cli = options.cli ?? "redis-cli"
  const started = await Promise.allSettled(Array.from({ length: NODE_COUNT }, () => startNode(options)))
  const servers = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []))
  let stopped = false

  const stop = async (): Promise<void> => {
    stopped = true
    await Promise.allSettled(servers.map((server) => server.teardown()))
  }

  const tails = (): string =>
    servers
      .map(
        (server, index) => `--- node ${index} (${HOST}:${server.port}) last output ---\n${lastLines(server.output())}`
      )
      .join("\n")

  const failures = started.flatMap((result) => (result.status === "rejected" ? [message(result.reason)] : []))
  if (failures.length > 0) {
    const detail = `${failures.join("\n")}\n${tails()}`
    await stop()
    throw new Error(`could not start a private Redis Cluster: ${detail}`)
  }

  const nodes: ReadonlyArray<ClusterNode> = servers.map((server) => ({
    host: HOST,
    port: server.port,
    url: server.url,
    dir: server.dir
  }))
  const hostPorts = nodes.map(({ host, port }) => `${host}:${port}`)

  const serverAt = (operation: string, index: number): PrivateRedis => {
    const server = Number.isInteger(index) ? servers[index] : undefined
    if (server === undefined)
      throw new Error(`PrivateRedisCluster.${operation}: no node ${index} (the nodes are 0 to ${NODE_COUNT - 1})`)
    return server
  }

  const waitOk = async (timeoutMs: number = WAIT_OK_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const down = servers.findIndex((server) => !server.running())
      if (down >= 0) throw new Error(`PrivateRedisCluster.waitOk: node ${down} is not running`)
      const states = await Promise.all(
        nodes.map(async ({ url }) => {
          try {
            return notOk(await clusterInfo(url))
          } catch (cause) {
            return `CLUSTER INFO failed: ${message(cause)}`
          }
        })
      )
      if (states.every((state) => state === undefined)) return
      if (Date.now() >= deadline) {
        const report = states.map((state, index) => `node ${index} (${hostPorts[index]}): ${state ?? "ok"}`).join("\n")
        throw new Error(
          `PrivateRedisCluster.waitOk: the cluster was not ok after ${timeoutMs} ms:\n${report}\n${tails()}`
        )
      }
      await sleep(POLL_INTERVAL_MS)
    }
  }

  try {
    await createCluster(cli, hostPorts)
    await waitOk()
  } catch (cause) {
    const detail = `${message(cause)}\n${tails()}`
    await stop()
    throw new Error(`could not start a private Redis Cluster: ${detail}`, { cause })
  }

  return {
    nodes,
    rootNodes: hostPorts.join(","),
    nodeFor: async (key) => {
      const asked = servers.findIndex((server) => server.running())
      if (asked < 0) throw new Error(`PrivateRedisCluster.nodeFor: no node is running to ask about ${key}`)
      const { slot, ranges } = await withClient(nodes[asked]?.url ?? "", async (client) => ({
        slot: await client.clusterKeySlot(key),
        ranges: await client.clusterSlots()
      }))
      const range = ranges.find(({ from, to }) => from <= slot && slot <= to)
      const owner = range === undefined ? -1 : nodes.findIndex(({ port }) => port === range.master.port)
      if (owner < 0)
        throw new Error(
          `PrivateRedisCluster.nodeFor: slot ${slot} of ${key} is served by none of ${hostPorts.join(", ")}`
        )
      return owner
    },
    running: (index) => serverAt("running", index).running(),
    kill: async (index) => {
      const server = serverAt("kill", index)
      if (!server.running()) throw new Error(`PrivateRedisCluster.kill: node ${index} is not running`)
      return server.kill9()
    },
    start: async (index) => {
      const server = serverAt("start", index)
      if (stopped) throw new Error("PrivateRedisCluster.start: the cluster is stopped")
      if (server.running()) throw new Error(`PrivateRedisCluster.start: node ${index} is already running`)
      await server.start()
      await waitOk()
    },
    waitOk,
    output: (index) => serverAt("output", index).output(),
    stop
  }
}

/**
 * Plain vitest: start the file's private cluster in `beforeAll`, stop it in `afterAll` (also when tests failed).
 * Read `cluster()` inside tests or later hooks (it throws before `beforeAll` ran).
 *
 * @category testing
 */
export const usePrivateRedisCluster = (options: PrivateRedisClusterOptions = {}): (() => PrivateRedisCluster) =>
  useForFile(
    "usePrivateRedisCluster",
    "the cluster",
    () => startPrivateRedisCluster(options),
    (cluster) => cluster.stop()
  )
