/**
 * Real OS processes for the end-to-end tests: the api, the workers and the example services run from source
 * (`node --conditions=@agg/source …/src/*.ts`: Node 24 strips the types and the condition points workspace imports
 * at src/), so no build is needed. Each process is a scoped resource: closing the test's scope SIGKILLs whatever is
 * still running and waits for it to be gone, so a failed test never leaks processes into the next one.
 *
 * Deliberately does not restart anything by itself or interpret output: tests decide what a crash means.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Deferred, Effect, Option, type Scope } from "effect"

/** The repository root (this file is packages/testing/src/Processes.ts). */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** Entry points, as source files, of the apps the tests run. */
export const entries = {
  api: `${repoRoot}apps/api/src/main.ts`,
  worker: `${repoRoot}apps/worker/src/main.ts`,
  inventory: `${repoRoot}examples/inventory/src/main.ts`
} as const

/** How a process ended: an exit code, or the signal that killed it. */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running (or finished) child process. */
export interface Proc {
  readonly name: string
  readonly pid: number
  /** The last ~64 KiB of its stdout and stderr, interleaved, for failure messages. */
  readonly output: () => string
  /** Send a signal (no-op once it has exited). */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Wait for it to exit. */
  readonly exit: Effect.Effect<ExitStatus>
  /** Its exit status if it has exited. */
  readonly status: () => Option.Option<ExitStatus>
}

const OUTPUT_LIMIT = 64 * 1024

/**
 * Spawn `node --conditions=@agg/source <entry> ...args` with the given environment on top of a minimal one
 * (PATH and HOME only: no DATABASE_URL/REDIS_URL leaks in from the developer's shell).
 */
export const spawnNode = (
  name: string,
  entry: string,
  options: { readonly args?: ReadonlyArray<string>; readonly env?: Readonly<Record<string, string>> } = {}
): Effect.Effect<Proc, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const exited = yield* Deferred.make<ExitStatus>()
      let status: Option.Option<ExitStatus> = Option.none()
      let output = ""
      const child: ChildProcess = spawn(
        process.execPath,
        ["--conditions=@agg/source", entry, ...(options.args ?? [])],
        {
          cwd: repoRoot,
          env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...options.env },
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
      const append = (chunk: Buffer) => {
        output = (output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT)
      }
      child.stdout?.on("data", append)
      child.stderr?.on("data", append)
      child.on("exit", (code, signal) => {
        status = Option.some({ code, signal })
        Deferred.doneUnsafe(exited, Effect.succeed({ code, signal }))
      })
      child.on("error", (error) => {
        append(Buffer.from(`\n[spawn error] ${String(error)}\n`))
        status = Option.some({ code: null, signal: null })
        Deferred.doneUnsafe(exited, Effect.succeed({ code: null, signal: null }))
      })
      const proc: Proc = {
        name,
        pid: child.pid ?? -1,
        output: () => output,
        kill: (signal) =>
          Effect.sync(() => {
            if (Option.isNone(status)) child.kill(signal)
          }),
        exit: Deferred.await(exited),
        status: () => status
      }
      return proc
    }),
    (proc) => proc.kill("SIGKILL").pipe(Effect.andThen(proc.exit), Effect.asVoid)
  )

/** The tail of a process's output, indented, for an assertion message. */
export const tail = (proc: Proc, lines = 40): string =>
  `--- ${proc.name} (pid ${proc.pid}) last output ---\n${proc.output().split("\n").slice(-lines).join("\n")}`
