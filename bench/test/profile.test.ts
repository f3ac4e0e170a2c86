import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { type CpuProfile, resolveFrame, shortLocation, summarise } from "../src/profile.ts"

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber })

describe("summarise", () => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("(idle)") },
      { id: 3, callFrame: frame("parse", "file:///r/node_modules/.pnpm/pg@8/node_modules/pg/lib/result.js", 9) },
      { id: 4, callFrame: frame("commit", "file:///r/apps/worker/dist/main.js", 99) },
      { id: 5, callFrame: frame("(garbage collector)") }
    ],
    // idle 600 µs, parse 300, commit 100, gc 100 (the same function sampled twice adds up)
    samples: [2, 3, 3, 4, 5, 2],
    timeDeltas: [300, 200, 100, 100, 100, 300]
  }
  const s = summarise("worker-1", profile)

  it("attributes self time per function, busy shares excluding idle", () => {
    expect(s.totalMs).toBeCloseTo(1.1)
    expect(s.idleShare).toBeCloseTo(0.6 / 1.1)
    expect(s.top[0]).toMatchObject({ functionName: "parse", location: "pg/lib/result.js:10" })
    expect(s.top[0]!.share).toBeCloseTo(0.6)
    expect(s.gcShare).toBeCloseTo(0.2)
  })

  it("groups self time by package", () => {
    expect(s.packages.map((p) => p.name)).toEqual(["pg", "apps/worker", "(garbage collector)"])
  })

  it("shortens locations to package or app paths", () => {
    expect(shortLocation("file:///w/node_modules/.pnpm/@redis+client@6/node_modules/@redis/client/dist/x.js", 0)).toBe(
      "@redis/client/dist/x.js:1"
    )
    expect(shortLocation("node:internal/streams/readable", 4)).toBe("node:internal/streams/readable:5")
    expect(shortLocation("", 0)).toBe("")
  })
})

describe("resolveFrame", () => {
  it("maps a bundled frame to its source position through the .map file beside it", () => {
    const dir = mkdtempSync(join(tmpdir(), "agg-bench-map-"))
    try {
      mkdirSync(join(dir, "apps/api/dist"), { recursive: true })
      writeFileSync(join(dir, "apps/api/dist/main.js"), "x\ny\n")
      // generated line 2 (0-based 1), column 0 -> source 0 ("../src/Body.ts"), line 0-based 1, column 0
      const map = { version: 3, sources: ["../src/Body.ts"], names: [], mappings: ";AACA" }
      writeFileSync(join(dir, "apps/api/dist/main.js.map"), JSON.stringify(map))
      const frame = resolveFrame({ functionName: "decode", url: `file://${dir}/apps/api/dist/main.js`, lineNumber: 1 })
      expect(shortLocation(frame.url, frame.lineNumber)).toBe("apps/api/src/Body.ts:2")
      const plain = { functionName: "f", url: "file:///nowhere/lib.js", lineNumber: 3 }
      expect(resolveFrame(plain)).toBe(plain)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
