// Backpressure over HTTP in queued mode (memory log, no workers, so the backlog only grows): above MAX_BACKLOG
// POST /publish answers 503 overloaded with Retry-After and appends nothing; /health reports the backlog (and
// stays 200: reads are served); /metrics carries the backlog gauges.
import { describe, expect, it } from "vitest"
import { memoryQueued, publish, send, startApp } from "./utils/TestApp.ts"

const event = (i: number) => ({
  topic: "bp",
  event_id: `e${i}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "test",
  payload: { i }
})

/** Poll /health until `done` holds (the backlog is measured every 50 ms here). */
const waitHealth = async (url: string, done: (body: Record<string, unknown>) => boolean) => {
  for (let i = 0; i < 200; i++) {
    const body = (await send(url, { path: "/health" })).json() as Record<string, unknown>
    if (done(body)) return body
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error("/health never reached the expected state")
}

describe("backpressure (queued mode)", () => {
  it("above the high-water mark: 503 overloaded + Retry-After, reported in /health and /metrics", async () => {
    const app = await startApp(memoryQueued({}, { maxBacklog: 10, checkEvery: "50 millis" }))
    try {
      const accepted = await publish(
        app.url,
        Array.from({ length: 11 }, (_, i) => event(i))
      )
      expect(accepted.status).toBe(202)
      const health = await waitHealth(app.url, (b) => (b.backlog as { accepting?: boolean })?.accepting === false)
      expect(health).toMatchObject({ status: "ok", backlog: { size: 11, max: 10, accepting: false } })
      const refused = await publish(app.url, [event(100)])
      expect(refused.status).toBe(503)
      expect(refused.headers["retry-after"]).toMatch(/^\d+$/)
      expect(refused.json()).toMatchObject({ error: { code: "overloaded" } })
      expect((await send(app.url, { path: "/stats" })).json()).toMatchObject({ received: 11 })
      const metrics = (await send(app.url, { path: "/metrics" })).text
      expect(metrics).toMatch(/^agg_backlog 11$/m)
      expect(metrics).toMatch(/^agg_backlog_max 10$/m)
      expect(metrics).toMatch(/^agg_backlog_refusing 1$/m)
    } finally {
      await app.close()
    }
  })
})
