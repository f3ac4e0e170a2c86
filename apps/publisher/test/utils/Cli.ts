/**
 * The publisher CLI (src/bin.ts, run from source) as a child process, for the tests that check its exit codes and
 * output against a fake or a real api.
 *
 * Deliberately does not parse the output: each test reads the stdout/stderr it cares about.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../../src/bin.ts", import.meta.url))

/** What a CLI run printed, and its exit code (null when a signal ended it). */
export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Run the CLI with `args` and resolve once it exited and its output is closed. `onStderr` sees all of stderr so
 * far after each chunk (to act at a point of the run, e.g. restart the api).
 */
export const runCli = (args: ReadonlyArray<string>, onStderr?: (stderr: string) => void): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    // From source all the way down (the workspace packages' `@agg/source` export), as the other test processes run.
    const child = spawn(process.execPath, ["--conditions=@agg/source", bin, ...args], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
      onStderr?.(stderr)
    })
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })
