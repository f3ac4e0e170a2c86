import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { startNode } from "../src/Children.ts"
import { deployedNodeArgs } from "../src/System.ts"

const dir = mkdtempSync(join(tmpdir(), "agg-bench-system-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
/** Prints the V8 heap limit of the process, in MiB, and the flags it was started with. */
const heapProbe = join(dir, "heap.mjs")
writeFileSync(
  heapProbe,
  'import v8 from "node:v8"\nconsole.log(JSON.stringify({ limitMiB: v8.getHeapStatistics().heap_size_limit / 2 ** 20, execArgv: process.execArgv }))'
)

/** Run the probe with `nodeArgs`, as the bench starts the api and workers, and read what it printed. */
const probe = async (nodeArgs: ReadonlyArray<string>) => {
  let printed = ""
  const child = startNode({ name: "heap-probe", script: heapProbe, nodeArgs, onLine: (line) => (printed += line) })
  expect(await child.exited, child.tail()).toBe(0)
  return JSON.parse(printed) as { limitMiB: number; execArgv: Array<string> }
}

const startScript = (app: string): string => {
  const path = fileURLToPath(new URL(`../../apps/${app}/package.json`, import.meta.url))
  return (JSON.parse(readFileSync(path, "utf8")) as { scripts: { start: string } }).scripts.start
}
const flagValue = (args: ReadonlyArray<string>, flag: string): number =>
  Number(args.findLast((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1))

describe("deployedNodeArgs", () => {
  it.each(["api", "worker"] as const)(
    "gives the %s the flags of its start script, between node and the bundle",
    (app) => {
      const args = deployedNodeArgs(app)
      expect(startScript(app)).toBe(["node", ...args, "dist/main.js"].join(" "))
      expect(flagValue(args, "--max-old-space-size")).toBeGreaterThan(0)
      expect(flagValue(args, "--max-semi-space-size")).toBeGreaterThan(0)
    }
  )

  it("bounds the heap of a process started with them; a later flag overrides, =0 restores V8's default", async () => {
    const args = deployedNodeArgs("api")
    const oldSpace = flagValue(args, "--max-old-space-size")
    const deployed = await probe(args)
    expect(deployed.execArgv).toEqual(args)
    // the limit is the old space plus the young generation (a few semi-spaces)
    expect(deployed.limitMiB).toBeGreaterThanOrEqual(oldSpace)
    expect(deployed.limitMiB).toBeLessThan(oldSpace + 8 * flagValue(args, "--max-semi-space-size"))
    const larger = await probe([...args, `--max-old-space-size=${oldSpace * 2}`])
    expect(larger.limitMiB).toBeGreaterThanOrEqual(oldSpace * 2)
    const reset = await probe([...args, "--max-old-space-size=0", "--max-semi-space-size=0"])
    expect(reset.limitMiB).toBe((await probe([])).limitMiB)
  })
})
