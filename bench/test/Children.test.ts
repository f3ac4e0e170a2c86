import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "@agg/testing/Ports"
import { afterAll, describe, expect, it } from "vitest"
import { cpuSeconds, isRunning, peakRss, resetPeakRss, startNode, stop, waitReady } from "../src/Children.ts"

const dir = mkdtempSync(join(tmpdir(), "agg-bench-children-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let scripts = 0
/** A script file holding `code` (Node does not run data: URLs as the main module). */
const script = (code: string): string => {
  const path = join(dir, `s${scripts++}.mjs`)
  writeFileSync(path, code)
  return path
}

describe("child processes", () => {
  it("reports a child that exits before it is ready, with its last output", async () => {
    const child = startNode({ name: "dies", script: script('console.log("boom: bad config"); process.exit(3)') })
    await expect(waitReady(child, async () => false)).rejects.toThrow(
      /dies exited \(3\) before it was ready:\nboom: bad config/
    )
  })

  it("waits for readiness, reads /proc figures, stops with SIGTERM and returns the exit code", async () => {
    let ready = false
    const child = startNode({
      name: "serves",
      script: script('process.on("SIGTERM", () => process.exit(0)); console.log("ready"); setInterval(() => {}, 1000)'),
      env: { BENCH_TEST_VAR: "x", HOME: undefined },
      onLine: (line) => {
        if (line === "ready") ready = true
      }
    })
    await waitReady(child, async () => ready)
    expect(isRunning(child)).toBe(true)
    expect(peakRss(child.pid)).toBeGreaterThan(1024 * 1024)
    expect(cpuSeconds(child.pid)).toBeGreaterThanOrEqual(0)
    expect(await stop(child)).toBe(0)
    expect(isRunning(child)).toBe(false)
    expect(peakRss(child.pid)).toBeUndefined()
  })

  it("finds a free port", async () => {
    const port = await freePort()
    expect(port).toBeGreaterThan(0)
    expect(port).toBeLessThan(65536)
  })
})

describe("resetPeakRss", () => {
  it("restarts the peak from the current RSS, so a later peak covers only what came after", async () => {
    let phase = ""
    const child = startNode({
      name: "spikes",
      script: script(
        // allocate and touch 200 MB, free it, then report
        'let b = Buffer.alloc(200 * 1024 * 1024, 1); b = null; globalThis.gc(); console.log("freed"); process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000)'
      ),
      nodeArgs: ["--expose-gc"],
      onLine: (line) => {
        phase = line
      }
    })
    await waitReady(child, async () => phase === "freed")
    expect(peakRss(child.pid)).toBeGreaterThan(200 * 1024 * 1024)
    expect(resetPeakRss(child.pid)).toBe(true)
    expect(peakRss(child.pid)).toBeLessThan(150 * 1024 * 1024)
    expect(await stop(child)).toBe(0)
  })
})
