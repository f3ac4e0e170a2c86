/**
 * A private Redis server for one test file or script: `redis-server` as a child process on a free port of
 * 127.0.0.1, its data in a temporary directory, with AOF on and fsynced before every reply
 * (`--appendonly yes --appendfsync always --save ""`), the production setting that lets an acknowledged write
 * survive a crash. Nobody else uses it, so a test may shut it down, `kill -9` it and start it again on the same
 * directory and port (the AOF is replayed), which it must never do to the machine's shared server.
 *
 * Two shapes of the same helper: `startPrivateRedis()` for scripts, `usePrivateRedis()` for vitest
 * (`beforeAll`/`afterAll`, like `useRedisPrefix` in TestServices.ts). `teardown` always kills the server and
 * removes the directory; if the process exits without it, an exit hook does the same.
 *
 * @remarks Does not run RDB snapshots (`--save ""`): the AOF alone is the durable state. Does not set a
 * password or a memory limit.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createClient } from "redis"
import { scratchDir, useForFile } from "./Lifecycle.ts"
import { onFreePort } from "./Ports.ts"

const READY_TIMEOUT_MS = 30_000
const SHUTDOWN_TIMEOUT_MS = 30_000
const PORT_ATTEMPTS = 3
const OUTPUT_LIMIT = 64 * 1024

/** How the server process ended. */
export interface RedisExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running (or stopped) private server. */
export interface PrivateRedis {
  /** The temporary directory holding the AOF (`appendonlydir/`). */
  readonly dir: string
  readonly port: number
  /** `redis://127.0.0.1:<port>` (no password). */
  readonly url: string
  /** Whether the server process is alive. */
  readonly running: () => boolean
  /** Start it again after `shutdown`/`kill9` (same directory and port: the AOF is replayed); resolves once ready. */
  readonly start: () => Promise<void>
  /** `SHUTDOWN`: Redis fsyncs the AOF and exits 0; resolves with the exit once it is gone. */
  readonly shutdown: () => Promise<RedisExit>
  /** SIGKILL: no chance to write anything more; resolves with the exit once it is gone. */
  readonly kill9: () => Promise<RedisExit>
  /** The server's output since the last start, for failure messages. */
  readonly output: () => string
  /** Kill the server if it runs and delete the directory. Idempotent; never throws. */
  readonly teardown: () => Promise<void>
}

/** Options of `startPrivateRedis`. */
export interface PrivateRedisOptions {
  /** The server binary; default `redis-server` on PATH. */
  readonly command?: string
  /** Extra command-line settings, e.g. `["--maxmemory", "64mb"]`. */
  readonly args?: ReadonlyArray<string>
}

interface Running {
  readonly child: ChildProcess
  readonly exited: Promise<RedisExit>
  output: string
  alive: boolean
}

/** Spawn the server and wait for "Ready to accept connections" (printed after the AOF is loaded). */
const spawnServer = (command: string, args: ReadonlyArray<string>, dir: string): Promise<Running> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let settle: ((exit: RedisExit) => void) | undefined
    const exited = new Promise<RedisExit>((r) => {
      settle = r
    })
    const state: Running = { child, exited, output: "", alive: true }
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`redis-server was not ready after ${READY_TIMEOUT_MS} ms:\n${state.output}`))
    }, READY_TIMEOUT_MS)
    const append = (chunk: Buffer) => {
      state.output = (state.output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT)
      if (state.output.includes("Ready to accept connections")) {
        clearTimeout(timer)
        resolve(state)
      }
    }
    child.stdout?.on("data", append)
    child.stderr?.on("data", append)
    child.once("error", (error) => {
      clearTimeout(timer)
      state.alive = false
      settle?.({ code: null, signal: null })
      reject(new Error(`could not run ${command}: ${error.message}`))
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      state.alive = false
      settle?.({ code, signal })
      reject(new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${state.output}`))
    })
  })

/**
 * Start a fresh server on a free port with its own temporary directory. Resolves once it accepts connections;
 * on failure the directory is removed before the promise rejects.
 */
export const startPrivateRedis = async (options: PrivateRedisOptions = {}): Promise<PrivateRedis> => {
  const command = options.command ?? "redis-server"
  let current: Running | undefined
  const scratch = scratchDir("agg-redis-", () => {
    if (current?.alive) current.child.kill("SIGKILL")
  })
  const dir = scratch.path

  const argsFor = (port: number) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
    "--daemonize",
    "no",
    "--logfile",
    "",
    ...(options.args ?? [])
  ]

  let port = 0
  try {
    // A port free a moment ago can be taken before the server binds it: try a few.
    const started = await onFreePort((free) => spawnServer(command, argsFor(free), dir), {
      attempts: PORT_ATTEMPTS,
      bindFailed: (cause) => cause instanceof Error && /address already in use/i.test(cause.message)
    })
    port = started.port
    current = started.value
  } catch (cause) {
    scratch.remove()
    throw new Error(`could not start a private Redis: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause
    })
  }
  const url = `redis://127.0.0.1:${port}`

  const runningServer = (operation: string): Running => {
    if (current === undefined || !current.alive) throw new Error(`PrivateRedis.${operation}: the server is not running`)
    return current
  }

  const waitExit = async (server: Running, operation: string): Promise<RedisExit> => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${operation}: redis-server still running after ${SHUTDOWN_TIMEOUT_MS} ms`)),
        SHUTDOWN_TIMEOUT_MS
      )
    })
    try {
      return await Promise.race([server.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    dir,
    port,
    url,
    running: () => current?.alive === true,
    start: async () => {
      if (current?.alive) throw new Error("PrivateRedis.start: the server is already running")
      current = await spawnServer(command, argsFor(port), dir)
    },
    shutdown: async () => {
      const server = runningServer("shutdown")
      const client = createClient({ url, RESP: 2, socket: { reconnectStrategy: false } }).on("error", () => undefined)
      try {
        await client.connect()
        // The server closes the connection instead of replying, so the command's own failure means nothing.
        await client.sendCommand(["SHUTDOWN"]).catch(() => undefined)
      } finally {
        client.destroy()
      }
      const exit = await waitExit(server, "shutdown")
      if (exit.code !== 0)
        throw new Error(`SHUTDOWN: redis-server exited with ${JSON.stringify(exit)}:\n${server.output}`)
      return exit
    },
    kill9: async () => {
      const server = runningServer("kill9")
      server.child.kill("SIGKILL")
      return waitExit(server, "kill9")
    },
    output: () => current?.output ?? "",
    teardown: async () => {
      if (scratch.removed()) return
      if (current?.alive) {
        current.child.kill("SIGKILL")
        await current.exited
      }
      scratch.remove()
    }
  }
}

/**
 * Plain vitest: start the file's private server in `beforeAll`, tear it down in `afterAll` (also when tests
 * failed). Read `server()` inside tests or later hooks (it throws before `beforeAll` ran).
 */
export const usePrivateRedis = (options: PrivateRedisOptions = {}): (() => PrivateRedis) =>
  useForFile(
    "usePrivateRedis",
    "the server",
    () => startPrivateRedis(options),
    (server) => server.teardown()
  )
