/**
 * `@agg/client`'s `subscribe` against the real app (direct mode on PostgreSQL): the iterator rides out a
 * graceful api restart on the same port, resuming after the last event it yielded, so each event arrives once
 * and in order; the all-topics iterator and `since` resume the same way; a bad key ends the iteration.
 */
import { ClientError, createClient, type ReconnectInfo, type StoredEvent } from "@agg/client"
import { checkPostgres, describeWithServices, useTestDatabase } from "@agg/testing/TestServices"
import { Redacted } from "effect"
import { describe, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import { event, publish, type RunningApp, startApp, testConfig } from "./utils/TestApp.ts"

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Pull from `iterator` into `into` in the background until it ends. */
const drain = (iterator: AsyncIterable<StoredEvent>, into: Array<StoredEvent>) =>
  (async () => {
    for await (const e of iterator) into.push(e)
  })()

const until = async (what: string, check: () => boolean, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describeWithServices("@agg/client subscribe across an api restart", [await checkPostgres()], () => {
  const db = useTestDatabase()
  const start = (port?: number) =>
    startApp(
      Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Postgres", url: Redacted.make(db().url) } })),
      { heartbeatMs: 500, apiKeys: ["k"], ...(port === undefined ? {} : { port }) }
    )

  it("resumes after the last yielded event, per topic and over all topics", async () => {
    let app: RunningApp = await start()
    const reconnects: Array<ReconnectInfo> = []
    const client = createClient({
      url: app.url,
      apiKey: "k",
      reconnect: { baseDelayMs: 20, maxDelayMs: 200 },
      onReconnect: (info) => reconnects.push(info)
    })
    const stop = new AbortController()
    const orders: Array<StoredEvent> = []
    const all: Array<StoredEvent> = []
    const since: Array<StoredEvent> = []
    const startedAt = new Date().toISOString()
    const done = Promise.all([
      drain(client.subscribe("orders", { signal: stop.signal }), orders),
      drain(client.subscribe({ all: true }, { after: 0, signal: stop.signal }), all),
      drain(client.subscribe("orders", { since: startedAt, signal: stop.signal }), since)
    ])
    try {
      const auth = { authorization: "Bearer k" }
      expect(
        (
          await publish(
            app.url,
            range(1, 5).map((i) => event(i)),
            auth
          )
        ).status
      ).toBe(200)
      await until("the first five", () => orders.length === 5 && all.length === 5 && since.length === 5)

      await app.close()
      app = await start(app.port)
      expect(
        (await publish(app.url, [...range(6, 9).map((i) => event(i)), event("p", { topic: "pay" })], auth)).status
      ).toBe(200)
      await until("everything", () => orders.length === 9 && all.length === 10 && since.length === 9)

      expect(orders.map((e) => e.offset)).toEqual(range(1, 9))
      expect(since.map((e) => e.offset)).toEqual(range(1, 9))
      const positions = all.map((e) => e.position ?? 0)
      expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true)
      expect(new Set(all.map((e) => `${e.topic}/${e.offset}`)).size).toBe(10)
      // Each iterator reconnected at least once, resuming after its last event (5 per topic).
      expect(reconnects.length).toBeGreaterThanOrEqual(3)
      expect(reconnects.filter((r) => r.after === 5).length).toBeGreaterThanOrEqual(2)
    } finally {
      stop.abort()
      await done
      await app.close()
    }
  })

  it("a wrong key ends the iteration with a ClientError (not retried)", async () => {
    const app = await start()
    try {
      const client = createClient({ url: app.url, apiKey: "wrong" })
      const failure = await drain(client.subscribe("orders"), []).catch((e: unknown) => e)
      expect(failure).toBeInstanceOf(ClientError)
      expect((failure as ClientError).status).toBe(401)
    } finally {
      await app.close()
    }
  })
})

describe("@agg/client subscribe options", () => {
  it("refuses after and since together", async () => {
    const client = createClient({ url: "http://127.0.0.1:1" })
    await expect(drain(client.subscribe("t", { after: 1, since: "2026-01-01T00:00:00Z" }), [])).rejects.toThrow(
      /after or since/
    )
  })
})
