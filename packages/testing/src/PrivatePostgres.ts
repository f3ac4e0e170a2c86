/**
 * A private PostgreSQL server for one test file or script: its own cluster (`initdb`) in a temporary directory,
 * on a free port of 127.0.0.1, trust authentication, its socket in that directory, started and stopped with
 * `pg_ctl` of the highest version under /usr/lib/postgresql/<version>/bin. Nobody else uses it, so a test may
 * restart it, crash it (`pg_ctl stop -m immediate`: crash recovery at the next start) and start it again, which
 * it must never do to the machine's shared server.
 *
 * Run as root (CI), every server command runs as the `postgres` OS user (initdb and postgres refuse root) and the
 * directory is handed to that user.
 *
 * Two shapes of the same helper: `startPrivatePostgres()` for scripts, `usePrivatePostgres()` for vitest
 * (`beforeAll`/`afterAll`, like `useTestDatabase` in TestServices.ts). `teardown` always stops the server and
 * removes the directory; if the process exits without it, an exit hook kills the server and removes it anyway.
 *
 * @remarks Does not create application databases or run migrations (connect to `url`, the `postgres` database,
 * or call `createTestDatabase({ serverUrl: url })`). Does not tune durability away: fsync and synchronous_commit
 * keep their defaults, so what survives a crash here is what would survive it in production.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { chownSync, existsSync, readdirSync, readFileSync } from "node:fs"
import { appendFile } from "node:fs/promises"
import { join } from "node:path"
import { scratchDir, useForFile } from "./Lifecycle.ts"
import { onFreePort } from "./Ports.ts"

/** Where Debian/Ubuntu install the server binaries, one folder per major version. */
const POSTGRES_ROOT = "/usr/lib/postgresql"
const START_TIMEOUT_SECONDS = 60
const PORT_ATTEMPTS = 3

/** How `restart` stops the server first (pg_ctl's shutdown modes). */
export type ShutdownMode = "smart" | "fast" | "immediate"

/** A running (or stopped) private server. */
export interface PrivatePostgres {
  /** The temporary directory holding the cluster (`data/`), the log and the socket. */
  readonly dir: string
  readonly port: number
  /** Major version of the binaries used, e.g. `"15"`. */
  readonly version: string
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication: no password). */
  readonly url: string
  /** Whether the server is up, as far as this handle's own calls know. */
  readonly running: () => boolean
  /** Start it again after `stop`/`crash` (same directory and port); resolves once it accepts connections. */
  readonly start: () => Promise<void>
  /** Graceful stop (`-m fast`: sessions are disconnected, a shutdown checkpoint is written). */
  readonly stop: () => Promise<void>
  /** Stop (default `fast`) and start again; resolves once it accepts connections. */
  readonly restart: (options?: { readonly mode?: ShutdownMode }) => Promise<void>
  /** `pg_ctl stop -m immediate`: no checkpoint, the next `start` runs crash recovery from the WAL. */
  readonly crash: () => Promise<void>
  /** The last lines of the server log, for failure messages. */
  readonly log: (lines?: number) => string
  /** Stop the server (immediately) if it runs and delete the directory. Idempotent; never throws. */
  readonly teardown: () => Promise<void>
}

/** Options of `startPrivatePostgres`. */
export interface PrivatePostgresOptions {
  /** Folder of initdb/pg_ctl; default the highest version under /usr/lib/postgresql. */
  readonly binDir?: string
  /** Extra `postgresql.conf` settings, e.g. `{ max_connections: "50" }`. */
  readonly settings?: Readonly<Record<string, string>>
}

/** The bin folder of the highest PostgreSQL version installed under /usr/lib/postgresql, and that version. */
export const postgresBinaries = (
  root: string = POSTGRES_ROOT
): { readonly binDir: string; readonly version: string } => {
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, "bin", "pg_ctl")))
    : []
  const highest = versions.sort((a, b) => Number(b) - Number(a))[0]
  if (highest === undefined)
    throw new Error(`no PostgreSQL server binaries under ${root}/<version>/bin (install the postgresql package)`)
  return { binDir: join(root, highest, "bin"), version: highest }
}

/** The uid/gid to run the server as: the `postgres` OS user when we are root, else ourselves (undefined). */
const serverUser = (): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
    return { uid: id("-u"), gid: id("-g") }
  } catch (cause) {
    throw new Error("running as root, but there is no `postgres` OS user to run initdb and the server as", { cause })
  }
}

/** Run a server binary to completion (as `user`); rejects with its output when it exits non-zero. */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly user: ReturnType<typeof serverUser>; readonly home: string }
): Promise<string> =>
  new Promise((resolve, reject) => {
    // pg_ctl start redirects the postmaster's output to the log (-l), so the pipes end with pg_ctl itself.
    const child: ChildProcess = spawn(command, [...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: options.home, LC_ALL: "C" },
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.user ?? {})
    })
    let output = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    child.once("error", reject)
    child.once("exit", (code, signal) => {
      if (code === 0) resolve(output)
      else reject(new Error(`${command} ${args.join(" ")} failed (${code ?? signal}): ${output.trim()}`))
    })
  })

const tailOf = (file: string, lines: number): string => {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

/** The postmaster's pid from `postmaster.pid` (first line), if the file is there. */
const postmasterPid = (dataDir: string): number | undefined => {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * initdb a fresh cluster in a new temporary directory and start it on a free port. Resolves once it accepts
 * connections; on any failure the directory is removed before the promise rejects.
 */
export const startPrivatePostgres = async (options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> => {
  const { binDir, version } =
    options.binDir === undefined ? postgresBinaries() : { binDir: options.binDir, version: "custom" }
  const user = serverUser()
  let running = false
  // The safety net for a process that ends without teardown (a crashed test runner): SIGQUIT is PostgreSQL's
  // immediate shutdown, and it must be synchronous here.
  const scratch = scratchDir("agg-pg-", () => {
    const pid = postmasterPid(dataDir)
    if (running && pid !== undefined) {
      try {
        process.kill(pid, "SIGQUIT")
      } catch {
        // already gone
      }
    }
  })
  const dir = scratch.path
  const dataDir = join(dir, "data")
  const logFile = join(dir, "log")
  const conf = join(dataDir, "postgresql.conf")
  const as = { user, home: dir }
  const pgCtl = (...args: ReadonlyArray<string>) => run(join(binDir, "pg_ctl"), ["-D", dataDir, ...args], as)

  const failWith = (what: string, cause: unknown): never => {
    throw new Error(
      `${what}: ${cause instanceof Error ? cause.message : String(cause)}\n--- server log ---\n${tailOf(logFile, 30)}`,
      {
        cause
      }
    )
  }

  let port = 0
  try {
    if (user !== undefined) chownSync(dir, user.uid, user.gid)
    // --no-sync: the fresh cluster's files need not reach the disk now; the server itself fsyncs as usual.
    await run(
      join(binDir, "initdb"),
      ["-D", dataDir, "-A", "trust", "-U", "postgres", "--encoding=UTF8", "--locale=C", "--no-sync"],
      as
    )
    const settings = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      ...options.settings
    }
    await appendFile(
      conf,
      `\n${Object.entries(settings)
        .map(([k, v]) => `${k} = ${v}`)
        .join("\n")}\n`
    )
    // A port free a moment ago can be taken before the server binds it: try a few.
    const started = await onFreePort(
      async (free) => {
        // Later lines of postgresql.conf win, so each attempt just appends its port.
        await appendFile(conf, `port = ${free}\n`)
        await pgCtl("-l", logFile, "-w", "-t", String(START_TIMEOUT_SECONDS), "start")
      },
      { attempts: PORT_ATTEMPTS, bindFailed: () => /could not bind|already in use/i.test(tailOf(logFile, 20)) }
    )
    port = started.port
    running = true
  } catch (cause) {
    const pid = postmasterPid(dataDir)
    if (pid !== undefined) await pgCtl("-m", "immediate", "stop").catch(() => undefined)
    const log = tailOf(logFile, 30)
    scratch.remove()
    throw new Error(
      `could not start a private PostgreSQL ${version} (${binDir}): ${cause instanceof Error ? cause.message : String(cause)}\n--- server log ---\n${log}`,
      { cause }
    )
  }

  const stopWith = async (mode: ShutdownMode) => {
    try {
      await pgCtl("-m", mode, "-w", "-t", String(START_TIMEOUT_SECONDS), "stop")
    } catch (cause) {
      failWith(`pg_ctl stop -m ${mode}`, cause)
    }
    running = false
  }
  const start = async () => {
    try {
      await pgCtl("-l", logFile, "-w", "-t", String(START_TIMEOUT_SECONDS), "start")
    } catch (cause) {
      failWith("pg_ctl start", cause)
    }
    running = true
  }

  return {
    dir,
    port,
    version,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    running: () => running,
    start,
    stop: () => stopWith("fast"),
    restart: async (restartOptions = {}) => {
      await stopWith(restartOptions.mode ?? "fast")
      await start()
    },
    crash: () => stopWith("immediate"),
    log: (lines = 40) => tailOf(logFile, lines),
    teardown: async () => {
      if (scratch.removed()) return
      if (running || postmasterPid(dataDir) !== undefined) {
        await pgCtl("-m", "immediate", "-w", "stop").catch(() => {
          const pid = postmasterPid(dataDir)
          try {
            if (pid !== undefined) process.kill(pid, "SIGKILL")
          } catch {
            // already gone
          }
        })
        running = false
      }
      scratch.remove()
    }
  }
}

/**
 * Plain vitest: start the file's private server in `beforeAll`, tear it down in `afterAll` (also when tests
 * failed). Read `server()` inside tests or later hooks (it throws before `beforeAll` ran).
 */
export const usePrivatePostgres = (options: PrivatePostgresOptions = {}): (() => PrivatePostgres) =>
  useForFile(
    "usePrivatePostgres",
    "the server",
    () => startPrivatePostgres(options),
    (server) => server.teardown()
  )
