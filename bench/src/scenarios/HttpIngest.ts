/**
 * HTTP ingest: single-event and batched publishes against several targets that run side by side (the
 * parse-only servers, the api in each mode), at full speed, then paced at about half of each api's measured
 * maximum to read latency under load. Every request carries event ids never sent before, so dedup cannot
 * short-circuit the work.
 *
 * The machine is shared and its background load drifts, so the measured time of each request size is cut into
 * rounds and the targets take turns within each round (the order rotating every round): a burst of background
 * load then hits every target alike instead of one, and the ratios stay meaningful. req/s is all 2xx answers over
 * all measured seconds; p50/p99 are the medians of the rounds' values.
 *
 * @remarks Measures targets that are already running; starting and stopping them is the caller's job.
 */
import { makeFreshBodies } from "../Events.ts"
import { type LoadResult, measureLoad } from "../Load.ts"

export interface IngestRow extends LoadResult {
  readonly target: string
  readonly eventsPerRequest: number
  readonly rounds: number
  /** Peak RSS of the server process after the scenario, in bytes (filled in by the caller). */
  readonly peakRss?: number
}

export interface LatencyRow extends LoadResult {
  readonly target: string
  readonly eventsPerRequest: number
  /** The full-speed req/s the pace was derived from. */
  readonly maxReqPerSec: number
}

export interface IngestTarget {
  readonly name: string
  readonly url: string
  /** Also measure latency paced at `latencyLoad` × its maximum. */
  readonly latency: boolean
}

export interface IngestPlan {
  readonly sizes: ReadonlyArray<number>
  readonly connections: (eventsPerRequest: number) => number
  /** Per target and size, before the rounds. */
  readonly warmupSeconds: number
  /** Measured seconds per target and size, split over `rounds`. */
  readonly seconds: number
  readonly rounds: number
  /** Request sizes whose latency is measured paced (for targets with `latency`). */
  readonly latencySizes: ReadonlyArray<number>
  readonly latencyLoad: number
  readonly latencySeconds: number
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Combine the rounds of one target and size. */
export const combineRounds = (rounds: ReadonlyArray<LoadResult>): LoadResult => {
  const seconds = rounds.reduce((n, r) => n + r.seconds, 0)
  const requests2xx = rounds.reduce((n, r) => n + r.requests2xx, 0)
  const events = rounds.reduce((n, r) => n + r.eventsPerSec * r.seconds, 0)
  return {
    connections: rounds[0]?.connections ?? 0,
    seconds,
    requests2xx,
    non2xx: rounds.reduce((n, r) => n + r.non2xx, 0),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    reqPerSec: seconds > 0 ? requests2xx / seconds : 0,
    eventsPerSec: seconds > 0 ? events / seconds : 0,
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    maxMs: Math.max(...rounds.map((r) => r.maxMs))
  }
}

let bodyCounter = 0

/** Measure every target at every size of the plan, interleaved in rounds; then the paced latency runs. */
export const runHttpIngest = async (
  targets: ReadonlyArray<IngestTarget>,
  plan: IngestPlan,
  log: (line: string) => void
): Promise<{ ingest: Array<IngestRow>; latency: Array<LatencyRow> }> => {
  const ingest: Array<IngestRow> = []
  const latency: Array<LatencyRow> = []
  for (const size of plan.sizes) {
    const connections = plan.connections(size)
    // one body factory per target and size: ids stay unique across rounds and the paced run
    const bodies = targets.map(() => makeFreshBodies(`h${bodyCounter++}`, size))
    const load = (i: number, seconds: number, overallRate?: number) =>
      measureLoad({
        url: targets[i]!.url,
        body: bodies[i]!,
        connections,
        warmupSeconds: 0,
        seconds,
        eventsPerRequest: size,
        ...(overallRate !== undefined ? { overallRate } : {})
      })
    for (let i = 0; i < targets.length; i++) if (plan.warmupSeconds > 0) await load(i, plan.warmupSeconds)
    const rounds: Array<Array<LoadResult>> = targets.map(() => [])
    for (let round = 0; round < plan.rounds; round++) {
      for (let k = 0; k < targets.length; k++) {
        const i = (k + round) % targets.length
        rounds[i]!.push(await load(i, plan.seconds / plan.rounds))
      }
    }
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!
      const result = combineRounds(rounds[i]!)
      ingest.push({ target: target.name, eventsPerRequest: size, rounds: plan.rounds, ...result })
      const failures = result.non2xx + result.errors
      log(
        `  ${target.name} ×${size}: ${Math.round(result.reqPerSec)} req/s, ${Math.round(result.eventsPerSec)} ev/s, ` +
          `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms${failures > 0 ? `, ${result.non2xx} non-2xx, ${result.errors} errors` : ""}`
      )
      if (target.latency && plan.latencySizes.includes(size) && result.reqPerSec > 0) {
        const rate = result.reqPerSec * plan.latencyLoad
        const paced = await load(i, plan.latencySeconds, rate)
        latency.push({ target: target.name, eventsPerRequest: size, maxReqPerSec: result.reqPerSec, ...paced })
        log(
          `  ${target.name} ×${size} paced at ${Math.round(rate)} req/s: ${Math.round(paced.reqPerSec)} req/s, ` +
            `p50 ${paced.p50Ms} ms, p99 ${paced.p99Ms} ms`
        )
      }
    }
  }
  return { ingest, latency }
}
