/**
 * The bench's client of the api: GET /health and /stats, and POST /publish of prepared bodies over keep-alive
 * connections with a fixed number of requests in flight. Plain node:http, so the load generator stays cheap on a
 * 2-core machine.
 *
 * @remarks No retries: a non-2xx answer during a drain is a failed run, reported with the status and body; so is a
 * /stats body that does not match `@agg/schema`'s `StatsBody`. Not a general client (apps/publisher is the
 * reference client).
 */
import * as Http from "node:http"
import { checkResponse, StatsBody, summarizeProblems } from "@agg/schema"

interface Response {
  readonly status: number
  readonly body: string
}

export class ApiClient {
  readonly baseUrl: string
  readonly agent: Http.Agent
  constructor(baseUrl: string, maxSockets = 16) {
    this.baseUrl = baseUrl
    this.agent = new Http.Agent({ keepAlive: true, maxSockets })
  }

  request(method: string, path: string, body?: Buffer): Promise<Response> {
    return new Promise((resolve, reject) => {
      const req = Http.request(
        `${this.baseUrl}${path}`,
        {
          method,
          agent: this.agent,
          headers: body ? { "content-type": "application/json", "content-length": body.length } : {}
        },
        (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (c: Buffer) => chunks.push(c))
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }))
          res.on("error", reject)
        }
      )
      req.on("error", reject)
      req.end(body)
    })
  }

  /** True when GET /health answers 200. */
  async healthy(): Promise<boolean> {
    return (await this.request("GET", "/health")).status === 200
  }

  async stats(): Promise<StatsBody> {
    const res = await this.request("GET", "/stats")
    if (res.status !== 200) throw new Error(`GET /stats answered ${res.status}: ${res.body.slice(0, 500)}`)
    const checked = checkResponse(StatsBody, JSON.parse(res.body))
    if (!checked.ok) {
      throw new Error(`GET /stats answered a body unlike StatsBody: ${summarizeProblems(checked.problems)}`)
    }
    return checked.value
  }

  /**
   * POST every body, `concurrency` at a time, in order of start. Rejects on the first non-2xx answer. Returns each
   * request's latency in milliseconds.
   */
  async publishAll(bodies: ReadonlyArray<Buffer>, concurrency: number): Promise<Array<number>> {
    const latencies: Array<number> = new Array(bodies.length)
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < bodies.length) {
        const i = next++
        const started = performance.now()
        const res = await this.request("POST", "/publish", bodies[i])
        latencies[i] = performance.now() - started
        if (res.status < 200 || res.status >= 300) {
          throw new Error(`POST /publish (batch ${i}) answered ${res.status}: ${res.body.slice(0, 500)}`)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, lane))
    return latencies
  }

  close(): void {
    this.agent.destroy()
  }
}

/** The q-quantile (0..1) of `values` (nearest rank); NaN when empty. */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}
