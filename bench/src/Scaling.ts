/**
 * The grid of the queued drains: which log partition counts (`PARTITIONS`, given to the api and every worker) are
 * run, and which of them did best, which the targets and the batch-size scenario then use.
 *
 * @remarks Pure: parses flags and picks among results; runs nothing.
 */
import type { DrainResult } from "./scenarios/Drain.ts"

/**
 * A comma-separated list of integers in [min, max], e.g. `--partitions 1,8,16`: sorted, each once. Throws naming
 * the flag and the bad entry.
 */
export const parseCounts = (flag: string, text: string, min: number, max: number): Array<number> => {
  const entries = text.split(",").map((s) => s.trim())
  const counts = entries.map((entry) => {
    const n = Number(entry)
    if (entry === "" || !Number.isInteger(n) || n < min || n > max) {
      throw new Error(`${flag}: "${entry}" in "${text}" is not an integer in [${min}, ${max}]`)
    }
    return n
  })
  return [...new Set(counts)].sort((a, b) => a - b)
}

/** The partition counts of a run: 1 (the log as it is without partitions) and every count asked for. */
export const partitionGrid = (asked: ReadonlyArray<number>): Array<number> =>
  [...new Set([1, ...asked])].sort((a, b) => a - b)

/** The PARTITIONS a queued drain ran with (results written before partitions existed ran with one). */
export const partitionsOf = (d: DrainResult): number => d.partitions ?? 1

/**
 * The partition count that did best: the one whose fastest queued drain (any worker count) has the highest
 * events/s, among the counts above 1 when there are any, since those are what is being measured; ties go to the
 * smaller count. Undefined when no queued drain ran.
 */
export const bestPartitions = (drains: ReadonlyArray<DrainResult>): number | undefined => {
  const fastest = new Map<number, number>()
  for (const d of drains) {
    if (d.mode !== "queued") continue
    const p = partitionsOf(d)
    fastest.set(p, Math.max(fastest.get(p) ?? 0, d.eventsPerSec))
  }
  const partitioned = [...fastest].filter(([p]) => p > 1)
  const candidates = partitioned.length > 0 ? partitioned : [...fastest]
  let best: [number, number] | undefined
  for (const c of candidates.sort((a, b) => a[0] - b[0])) if (best === undefined || c[1] > best[1]) best = c
  return best?.[0]
}
