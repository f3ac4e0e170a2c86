/**
 * The publisher CLI against the real API process (apps/api, embedded mode: PGlite in a temporary DATA_DIR):
 * the seed scenario verified exactly, and a graceful API restart in the middle of a run survived by retrying.
 * The distributed mode (Redis + workers) is covered by the project's end-to-end suite, not here.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "@agg/testing/Ports"
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { Summary } from "../src/Report.ts"
import { runCli } from "./utils/Cli.ts"

const apiMain = fileURLToPath(new URL("../../api/src/main.ts", import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), "agg-publisher-"))

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.once("exit", (code) => resolve(code))
  )

let api: ChildProcess | undefined
let apiPort = 0
const startApi = async (port: number) => {
  apiPort = port
  // Embedded mode whatever the caller's environment says.
  const { DATABASE_URL: _d, REDIS_URL: _r, API_KEYS: _k, ...env } = process.env
  const child = spawn(process.execPath, ["--conditions=@agg/source", apiMain], {
    env: { ...env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "pipe"]
  })
  api = child
  let log = ""
  child.stdout?.on("data", (d: Buffer) => {
    log += d.toString()
  })
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString()
  })
  // Ready when the server logs that it listens (or fail fast when it exits).
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (log.includes('"listening"')) resolve()
    }
    child.stdout?.on("data", onData)
    child.once("exit", (code) => reject(new Error(`api exited ${code} before listening:\n${log}`)))
  })
  return child
}

afterAll(async () => {
  if (api && api.exitCode === null) {
    api.kill("SIGTERM")
    await exited(api)
  }
  rmSync(dataDir, { recursive: true, force: true })
})

describe("publisher against the real API (embedded)", () => {
  it("20,000 events with 30% duplicates: verified exactly", async () => {
    const port = await freePort()
    await startApi(port)
    const url = `http://127.0.0.1:${port}`
    const args = ["--url", url, "--events", "20000", "--duplicates", "0.3", "--batch", "200", "--verify", "--json"]
    const { code, stdout, stderr } = await runCli(args)
    assert.strictEqual(code, 0, stderr)
    const summary = JSON.parse(stdout) as Summary
    assert.deepStrictEqual(summary.expected, { unique: 14_000, duplicates: 6000, topics: 4 })
    assert.strictEqual(summary.accepted, 20_000)
    assert.deepStrictEqual(summary.verify?.mismatches, [])
  })

  it("survives a graceful API restart mid-run by retrying, with no loss", async () => {
    const running = api as ChildProcess
    const port = apiPort
    let restart: Promise<unknown> | undefined
    const args = ["--url", `http://127.0.0.1:${port}`, "--events", "20000", "--duplicates", "0.3", "--rate", "4000"]
    const { code, stdout, stderr } = await runCli([...args, "--max-attempts", "30", "--verify", "--json"], (err) => {
      // Restart once the publisher reports real progress (its plain progress line, once a second).
      const done = Math.max(0, ...[...err.matchAll(/publish: (\d+)\//g)].map((m) => Number(m[1])))
      if (restart === undefined && done >= 3000) {
        running.kill("SIGTERM")
        restart = exited(running).then(() => startApi(port))
      }
    })
    assert.isDefined(restart, "the API was never restarted")
    await restart
    assert.strictEqual(code, 0, stderr)
    const summary = JSON.parse(stdout) as Summary
    assert.isAbove(summary.retries, 0)
    assert.strictEqual(summary.sent, 20_000)
    assert.deepStrictEqual(summary.verify?.mismatches, [])
  })
})
