/**
 * Child processes of a benchmark run (the api, workers, parse-only HTTP servers): spawn with a given environment,
 * wait until ready, read their peak memory and CPU time from /proc, stop them gracefully (SIGTERM, so `--cpu-prof`
 * profiles get written), and kill whatever is left when the run ends or fails.
 *
 * @remarks Linux only (/proc). Keeps the last lines of each child's output in memory for error messages; does not
 * write logs to disk, and never signals a process it did not start.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"

/** A started child process. */
export interface Child {
  readonly name: string
  readonly pid: number
  readonly process: ChildProcess
  /** The last lines it printed (stdout and stderr). */
  readonly tail: () => string
  /** Resolves with the exit code (or the signal name) once it exited. */
  readonly exited: Promise<number | string>
}

const TAIL_LINES = 40
const live = new Set<Child>()

/** Spawn `node [nodeArgs] script [args]` with `env` added to this process's environment. */
export const startNode = (options: {
  readonly name: string
  readonly script: string
  readonly args?: ReadonlyArray<string>
  readonly nodeArgs?: ReadonlyArray<string>
  /** Added to this process's environment; `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly onLine?: (line: string) => void
}): Child => {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env }
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key]
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])], {
    env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  if (proc.pid === undefined) throw new Error(`${options.name}: could not spawn ${options.script}`)
  const lines: Array<string> = []
  const collect = (stream: NodeJS.ReadableStream) => {
    let partial = ""
    stream.setEncoding("utf8")
    stream.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n")
      partial = parts.pop() ?? ""
      for (const line of parts) {
        options.onLine?.(line)
        lines.push(line)
        if (lines.length > TAIL_LINES) lines.shift()
      }
    })
  }
  collect(proc.stdout!)
  collect(proc.stderr!)
  const exited = new Promise<number | string>((resolve) =>
    proc.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  const child: Child = {
    name: options.name,
    pid: proc.pid,
    process: proc,
    tail: () => lines.join("\n"),
    exited
  }
  live.add(child)
  void exited.then(() => live.delete(child))
  return child
}

/** Is it still running? */
export const isRunning = (child: Child): boolean => child.process.exitCode === null && child.process.signalCode === null

/**
 * Poll `ready()` every 50 ms until it returns true; fail if the child exits first or `timeoutMs` passes, with its
 * last output in the message.
 */
export const waitReady = async (child: Child, ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isRunning(child)) {
      throw new Error(`${child.name} exited (${await child.exited}) before it was ready:\n${child.tail()}`)
    }
    if (await ready().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${child.name} not ready after ${timeoutMs} ms:\n${child.tail()}`)
}

/** SIGTERM, then wait for the exit (SIGKILL after `graceMs`). Returns the exit code or signal. */
export const stop = async (child: Child, graceMs = 30_000): Promise<number | string> => {
  if (!isRunning(child)) return child.exited
  child.process.kill("SIGTERM")
  const timer = setTimeout(() => child.process.kill("SIGKILL"), graceMs)
  try {
    return await child.exited
  } finally {
    clearTimeout(timer)
  }
}

/** Kill every child still running (after a failure, or at exit). */
export const killAll = (): void => {
  for (const child of live) if (isRunning(child)) child.process.kill("SIGKILL")
}

const statusField = (pid: number, field: string): number | undefined => {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** Peak resident set size so far (VmHWM), in bytes; undefined once the process is gone. */
export const peakRss = (pid: number): number | undefined => statusField(pid, "VmHWM")
/**
 * Restart the peak (VmHWM) from the current RSS (`5` > /proc/<pid>/clear_refs, Linux ≥ 4.0), so a later
 * `peakRss` covers only what happened since: the load, not the start-up (PGlite's initdb alone peaks near 1 GB).
 * Returns false when the kernel refused.
 */
export const resetPeakRss = (pid: number): boolean => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}

/** Current resident set size (VmRSS), in bytes. */
export const currentRss = (pid: number): number | undefined => statusField(pid, "VmRSS")

const CLOCK_TICKS = 100 // USER_HZ on Linux

/** CPU seconds (user + system) a process used so far; undefined once it is gone. */
export const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // fields after the command name "(...)": state is field 3, utime 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}
