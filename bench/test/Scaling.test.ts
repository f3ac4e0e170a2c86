import { describe, expect, it } from "vitest"
import { bestPartitions, parseCounts, partitionGrid } from "../src/Scaling.ts"
import type { DrainResult } from "../src/scenarios/Drain.ts"

const drain = (
  partitions: number | undefined,
  workers: number,
  eventsPerSec: number,
  mode: DrainResult["mode"] = "queued"
) => ({ mode, workers, eventsPerSec, ...(partitions === undefined ? {} : { partitions }) }) as DrainResult

describe("parseCounts", () => {
  it("reads a comma-separated list, sorted, each once", () => {
    expect(parseCounts("--partitions", "16, 1,8,8", 1, 1024)).toEqual([1, 8, 16])
  })

  it("rejects an entry that is not an integer in range, naming the flag and the entry", () => {
    expect(() => parseCounts("--partitions", "1,x", 1, 1024)).toThrow(/--partitions: "x" in "1,x"/)
    expect(() => parseCounts("--partitions", "0", 1, 1024)).toThrow(/not an integer in \[1, 1024\]/)
    expect(() => parseCounts("--partitions", "1,,2", 1, 1024)).toThrow(/"" in "1,,2"/)
    expect(() => parseCounts("--partitions", "2.5", 1, 1024)).toThrow(/"2.5"/)
  })
})

describe("partitionGrid", () => {
  it("always holds 1, the log without partitions", () => {
    expect(partitionGrid([8, 16])).toEqual([1, 8, 16])
    expect(partitionGrid([4, 1])).toEqual([1, 4])
  })
})

describe("bestPartitions", () => {
  it("picks the count above 1 whose fastest drain is fastest, ties to the smaller count", () => {
    const drains = [
      drain(1, 4, 50_000),
      drain(8, 1, 20_000),
      drain(8, 4, 36_000),
      drain(16, 4, 36_000),
      drain(16, 2, 30_000)
    ]
    expect(bestPartitions(drains)).toBe(8)
  })

  it("falls back to 1 when only 1 ran (results from before partitions count as 1), and ignores embedded drains", () => {
    expect(bestPartitions([drain(undefined, 2, 10_000), drain(8, 0, 90_000, "embedded")])).toBe(1)
    expect(bestPartitions([drain(undefined, 0, 90_000, "embedded")])).toBeUndefined()
  })
})
