import { assert, describe, it } from "@effect/vitest"
import { formatSummary, latencySummary, makeProgress, percentile, type Summary } from "../src/Report.ts"

describe("Report", () => {
  it("percentile is nearest-rank", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    assert.strictEqual(percentile(xs, 50), 50)
    assert.strictEqual(percentile(xs, 99), 99)
    assert.strictEqual(percentile(xs, 100), 100)
    assert.strictEqual(percentile([7], 99), 7)
    assert.strictEqual(percentile([], 50), 0)
    assert.deepStrictEqual(latencySummary([3, 1, 2]), { p50: 2, p99: 3, max: 3, mean: 2 })
  })

  it("plain progress writes one line per interval and a final line", () => {
    const lines: Array<string> = []
    let t = 0
    const p = makeProgress(
      { write: (s) => lines.push(s), isTTY: false },
      { label: "publish", total: 100, now: () => t }
    )
    p.update(10) // first update draws
    t = 500
    p.update(20) // within the interval: skipped
    t = 1000
    p.update(30)
    t = 1200
    p.update(100)
    p.done()
    assert.deepStrictEqual(
      lines.map((l) => l.split(" ").slice(0, 3).join(" ")),
      ["publish: 10/100 events", "publish: 30/100 events", "publish: 100/100 events"]
    )
    assert.isTrue(lines.every((l) => l.endsWith("\n") && !l.includes("\r")))
  })

  it("TTY progress redraws one bar in place and ends the line", () => {
    const out: Array<string> = []
    const p = makeProgress({ write: (s) => out.push(s), isTTY: true }, { label: "publish", total: 4, now: () => 0 })
    p.update(2)
    p.done()
    assert.isTrue(out[0]?.startsWith("\r\x1b[2K"))
    assert.include(out[0] ?? "", " 50% 2/4")
    assert.strictEqual(out.at(-1), "\n")
  })

  it("the summary names every figure and each verify mismatch", () => {
    const s: Summary = {
      runId: "r",
      url: "http://x",
      sent: 20_000,
      accepted: 20_000,
      failed: 0,
      requests: 200,
      retries: 3,
      ambiguousRetries: 1,
      expected: { unique: 14_000, duplicates: 6000, topics: 4 },
      elapsedMs: 2000,
      eventsPerSecond: 10_000,
      latencyMs: { p50: 1.5, p99: 9, max: 12, mean: 2 },
      verify: { ok: false, mismatches: ["topic t0-r: 1 missing (e.g. r-7)"], drainMs: 10 }
    }
    const text = formatSummary(s)
    for (const part of [
      "20,000 events in 200 requests",
      "retries     3",
      "10,000 events/s",
      "p50 1.5 ms",
      "p99 9 ms",
      "FAILED",
      "✗ topic t0-r: 1 missing"
    ])
      assert.include(text, part)
  })
})
