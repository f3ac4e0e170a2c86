/** GET /stats, /metrics and /health: the counters after duplicates and conflicts, Prometheus text, dependency states. */
import { EventStore } from "@agg/core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import {
  event,
  memoryDirect,
  memoryQueued,
  publish,
  type RunningApp,
  send,
  startApp,
  testConfig
} from "./utils/TestApp.ts"

describe("stats, metrics, health (direct mode, PGlite)", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Pglite" } })))
  })
  afterAll(() => app.close())

  it("counts duplicates within a request, across requests, and conflicts", async () => {
    // within one request: e-1 twice
    expect((await publish(app.url, [event(1), event(1), event(2)])).json()).toEqual({
      accepted: 3,
      unique: 2,
      duplicates: 1
    })
    // across requests: e-2 again (same content), e-1 with another payload (a conflict: first version wins)
    expect((await publish(app.url, [event(2), event(1, { payload: { changed: true } })])).json()).toEqual({
      accepted: 2,
      unique: 0,
      duplicates: 2
    })
    expect((await publish(app.url, event("x", { topic: "payments" }))).status).toBe(200)
    const stats = (await send(app.url, { path: "/stats" })).json()
    expect(stats).toMatchObject({
      received: 6,
      unique_processed: 3,
      duplicate_dropped: 3,
      conflicts: 1,
      pending: 0,
      topics: ["orders", "payments"],
      topic_count: 2
    })
    // the per-topic figures are GET /topics'
    expect((await send(app.url, { path: "/topics" })).json()).toEqual({
      topics: [
        { topic: "orders", unique_processed: 2, duplicate_dropped: 3, conflicts: 1 },
        { topic: "payments", unique_processed: 1, duplicate_dropped: 0, conflicts: 0 }
      ],
      next_after: "payments"
    })
    expect(Number.isInteger(stats.uptime_seconds)).toBe(true)
    expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped + stats.pending)
    const stored = (await send(app.url, { path: "/events?topic=orders" })).json().events
    expect(stored.find((e: { event_id: string }) => e.event_id === "e-1").payload).toEqual({ amount: 500, n: 1 })
  })

  it("/metrics is Prometheus text with requests, latency, accepted events, commit sizes and the counters", async () => {
    const r = await send(app.url, { path: "/metrics" })
    expect(r.status).toBe(200)
    expect(r.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = r.text
    expect(text).toMatch(/^agg_http_requests_total\{route="\/publish",method="POST",status="200"\} 3$/m)
    expect(text).toMatch(/^agg_http_request_duration_seconds_count\{route="\/publish",method="POST"\} 3$/m)
    expect(text).toMatch(/^agg_events_accepted_total 6$/m)
    expect(text).toMatch(/^agg_commit_batch_size_count [1-9]\d*$/m)
    expect(text).toMatch(/^agg_unique_processed 3$/m)
    expect(text).toMatch(/^agg_duplicate_dropped 3$/m)
    expect(text).toMatch(/^agg_conflicts 1$/m)
    expect(text).toMatch(/^agg_pending 0$/m)
    expect(text).toMatch(/^process_resident_memory_bytes [1-9]\d*$/m)
    // every sample line is `name{labels} value` (blank lines separate metric families; names may hold digits, as
    // in nodejs_eventloop_lag_p50_seconds; the event-loop lag figures are NaN, which the format allows, until the
    // monitor has a sample)
    for (const line of text
      .trim()
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))) {
      expect(line).toMatch(/^[a-z_][a-z0-9_]*(\{[^}]*\})? (-?[0-9.e+-]+|Nan)$/)
    }
  })

  it("/health is 200 with the store up", async () => {
    const r = await send(app.url, { path: "/health" })
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ status: "ok", mode: "direct", checks: { store: { status: "up" } } })
  })
})

describe("stats in queued mode", () => {
  it("received and pending come from the stream", async () => {
    const app = await startApp(memoryQueued())
    try {
      expect((await publish(app.url, [event(1), event(1), event(2)])).status).toBe(202)
      const stats = (await send(app.url, { path: "/stats" })).json()
      expect(stats).toMatchObject({ received: 3, pending: 3, unique_processed: 0, duplicate_dropped: 0 })
      const health = (await send(app.url, { path: "/health" })).json()
      expect(health).toEqual({
        status: "ok",
        mode: "queued",
        checks: { store: { status: "up" }, stream: { status: "up" } },
        backlog: { size: expect.any(Number), max: 1_000_000, accepting: true }
      })
    } finally {
      await app.close()
    }
  })
})

describe("health when the store is down", () => {
  it("503 naming the dependency, and /stats answers 503 too", async () => {
    const down = new EventStore.EventStoreError({ operation: "stats", retryable: true, message: "ECONNREFUSED" })
    const app = await startApp(
      memoryDirect({ fault: (op) => (op === "stats" || op === "ping" ? Effect.fail(down) : Effect.void) })
    )
    try {
      const r = await send(app.url, { path: "/health" })
      expect(r.status).toBe(503)
      expect(r.json()).toEqual({
        status: "unavailable",
        mode: "direct",
        checks: { store: { status: "down", error: "unreachable" } }
      })
      const stats = await send(app.url, { path: "/stats" })
      expect(stats.status).toBe(503)
      expect(stats.headers["retry-after"]).toBe("1")
      expect(stats.text).not.toContain("ECONNREFUSED")
      expect((await send(app.url, { path: "/metrics" })).status).toBe(200)
    } finally {
      await app.close()
    }
  })
})

describe("a 503 or 500 logs the driver's cause, never sends it", () => {
  it("GET /stats with the store down: the log line carries the port's message and the driver's", async () => {
    const driver = new Error("connect ECONNREFUSED 10.1.2.3:5432")
    const down = new EventStore.EventStoreError({
      operation: "stats",
      retryable: true,
      message: "stats failed: connection lost",
      cause: driver
    })
    const logs: Array<string> = []
    const app = await startApp(memoryDirect({ fault: (op) => (op === "stats" ? Effect.fail(down) : Effect.void) }), {
      logs
    })
    try {
      const r = await send(app.url, { path: "/stats" })
      expect(r.status).toBe(503)
      expect(r.text).not.toContain("ECONNREFUSED")
      const line = logs.find((l) => l.includes("request failed"))
      expect(line).toContain("stats failed: connection lost")
      expect(line).toContain("connect ECONNREFUSED 10.1.2.3:5432")
    } finally {
      await app.close()
    }
  })
})

describe("many topics: /stats and /health stay small and cheap, /topics pages them all", () => {
  it("lists the first 1,000 names with topic_count, pages with after/limit, and /health reads no topic", async () => {
    const operations: Array<string> = []
    const app = await startApp(
      memoryDirect({
        fault: (op) =>
          Effect.sync(() => {
            operations.push(op)
          })
      })
    )
    try {
      const name = (i: number) => `t${String(i).padStart(5, "0")}`
      const events = Array.from({ length: 2500 }, (_, i) => event(i, { topic: name(i) }))
      expect((await publish(app.url, events)).status).toBe(200)
      const stats = (await send(app.url, { path: "/stats" })).json()
      expect(stats.topics).toEqual(Array.from({ length: 1000 }, (_, i) => name(i)))
      expect(stats).toMatchObject({ topic_count: 2500, unique_processed: 2500, received: 2500 })
      expect(stats.per_topic).toBeUndefined()

      const seen: Array<string> = []
      let after = ""
      for (let pages = 0; pages < 10; pages++) {
        const page = (await send(app.url, { path: `/topics?after=${after}&limit=1000` })).json()
        seen.push(...page.topics.map((t: { topic: string }) => t.topic))
        expect(page.next_after).toBe(page.topics.at(-1)?.topic ?? after)
        if (page.topics.length < 1000) break
        after = page.next_after
      }
      expect(seen).toEqual(events.map((e) => e.topic))
      const first = (await send(app.url, { path: "/topics?limit=2" })).json()
      expect(first.topics).toEqual([
        { topic: name(0), unique_processed: 1, duplicate_dropped: 0, conflicts: 0 },
        { topic: name(1), unique_processed: 1, duplicate_dropped: 0, conflicts: 0 }
      ])
      const end = (await send(app.url, { path: `/topics?after=${name(2499)}` })).json()
      expect(end).toEqual({ topics: [], next_after: name(2499) })
      for (const bad of ["limit=0", "limit=1001", "limit=x", "after=a&after=b", "topic=x"]) {
        const r = await send(app.url, { path: `/topics?${bad}` })
        expect(r.status, bad).toBe(400)
        expect(r.json().error.code).toBe("invalid_query")
      }

      operations.length = 0
      expect((await send(app.url, { path: "/health" })).status).toBe(200)
      expect(operations).toEqual(["ping"])
    } finally {
      await app.close()
    }
  })
})
