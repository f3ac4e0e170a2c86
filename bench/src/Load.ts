/**
 * One HTTP load measurement with autocannon (programmatic): a warm-up run whose figures are discarded, then the
 * measured run, both POSTing bodies from a factory so every request carries event ids never sent before.
 * Optionally paced (`overallRate`) for latency under a given load.
 *
 * @remarks Runs autocannon in this process (one core of the load generator); the server under test runs in its
 * own process. Reports only what autocannon measured; no assertion on the figures.
 */
import autocannon from "autocannon"

export interface LoadOptions {
  readonly url: string
  readonly body: () => string
  readonly connections: number
  readonly warmupSeconds: number
  readonly seconds: number
  /** Events carried by one request (for events/s). */
  readonly eventsPerRequest: number
  /** Requests per second for the whole run; unset: as fast as the server answers. */
  readonly overallRate?: number
}

export interface LoadResult {
  readonly connections: number
  readonly seconds: number
  readonly requests2xx: number
  readonly non2xx: number
  readonly errors: number
  readonly reqPerSec: number
  readonly eventsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly overallRate?: number
}

const run = (options: LoadOptions, seconds: number): Promise<autocannon.Result> =>
  autocannon({
    url: options.url,
    connections: options.connections,
    duration: seconds,
    ...(options.overallRate !== undefined ? { overallRate: Math.max(1, Math.round(options.overallRate)) } : {}),
    requests: [
      {
        method: "POST",
        path: "/publish",
        headers: { "content-type": "application/json" },
        setupRequest: (request) => ({ ...request, body: options.body() })
      }
    ]
  })

/** Warm up, then measure. */
export const measureLoad = async (options: LoadOptions): Promise<LoadResult> => {
  if (options.warmupSeconds > 0) await run(options, options.warmupSeconds)
  const result = await run(options, options.seconds)
  const ok = result["2xx"]
  const seconds = result.duration
  return {
    connections: options.connections,
    seconds,
    requests2xx: ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    reqPerSec: ok / seconds,
    eventsPerSec: (ok * options.eventsPerRequest) / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {})
  }
}
