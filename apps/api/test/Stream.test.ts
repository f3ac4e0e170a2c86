/**
 * GET /events/stream, direct mode on PostgreSQL: backlog then live events, Last-Event-ID and since, heartbeats,
 * the all-topics order, a slow subscriber closed with a reason while a hundred others go on, auth, bad input.
 */
import { checkPostgres, describeWithServices, useTestDatabase } from "@agg/testing/TestServices"
import { Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import { countOf, eventsOf, openSse, type SseStream } from "./utils/Sse.ts"
import { event, publish, type RunningApp, send, startApp, testConfig } from "./utils/TestApp.ts"

const CAPACITY = 40

const ok = async (url: string, events: ReadonlyArray<unknown>, headers: Record<string, string> = {}) => {
  const r = await publish(url, events, headers)
  expect(r.status, r.text).toBe(200)
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describeWithServices("GET /events/stream (direct, PostgreSQL)", [await checkPostgres()], () => {
  const db = useTestDatabase()
  let app: RunningApp
  const streams: Array<SseStream> = []
  const open = async (path: string, headers: Record<string, string> = {}) => {
    const s = await openSse(app.url, path, headers)
    streams.push(s)
    return s
  }
  beforeAll(async () => {
    app = await startApp(
      Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Postgres", url: Redacted.make(db().url) } }), {
        capacity: CAPACITY
      }),
      { heartbeatMs: 300 }
    )
  })
  afterAll(async () => {
    for (const s of streams) s.close()
    await app.close()
  })

  it("sends the backlog after the cursor, then each event as it commits; ids are offsets", async () => {
    await ok(app.url, [...range(1, 5).map((i) => event(i)), event("p1", { topic: "payments" })])
    const s = await open("/events/stream?topic=orders&after=2")
    expect(s.status).toBe(200)
    expect(s.headers["content-type"]).toBe("text/event-stream; charset=utf-8")
    await s.until((x) => countOf(x) === 3)
    await ok(
      app.url,
      range(6, 8).map((i) => event(i))
    )
    await s.until((x) => countOf(x) === 6)
    expect(eventsOf(s).map((e) => e.offset)).toEqual(range(3, 8))
    expect(s.messages.map((m) => Number(m.id))).toEqual(range(3, 8))
    expect(eventsOf(s).every((e) => e.topic === "orders" && e.position === undefined)).toBe(true)
  })

  it("resumes exactly after Last-Event-ID (which wins over after); since starts at a time", async () => {
    const s = await open("/events/stream?topic=orders&after=0", { "last-event-id": "6" })
    await s.until((x) => countOf(x) === 2)
    expect(eventsOf(s).map((e) => e.offset)).toEqual([7, 8])
    // A time after every stored event: nothing from the backlog, the next commit live.
    const later = await open(`/events/stream?topic=orders&since=${encodeURIComponent(new Date().toISOString())}`)
    await later.until((x) => x.comments.includes("connected"))
    await ok(app.url, [event(9)])
    await later.until((x) => countOf(x) === 1)
    expect(eventsOf(later).map((e) => e.offset)).toEqual([9])
    await s.until((x) => countOf(x) === 3)
    expect(eventsOf(s).map((e) => e.offset)).toEqual([7, 8, 9])
  })

  it("sends heartbeat comments while idle", async () => {
    const s = await open("/events/stream?topic=quiet")
    await s.until((x) => x.comments.filter((c) => c === "heartbeat").length >= 2, 5_000)
    expect(s.messages).toEqual([])
  })

  it("all topics: every event once, positions as ids, strictly rising", async () => {
    const s = await open("/events/stream")
    const before = (await send(app.url, { path: "/events?limit=1000" })).json().events.length
    await s.until((x) => countOf(x) === before)
    await ok(app.url, [event("p2", { topic: "payments" }), event(10), event("p3", { topic: "payments" })])
    await s.until((x) => countOf(x) === before + 3)
    const ids = s.messages.map((m) => Number(m.id))
    expect(eventsOf(s).map((e) => e.position)).toEqual(ids)
    expect(ids.every((p, i) => i === 0 || p > ids[i - 1]!)).toBe(true)
    expect(new Set(eventsOf(s).map((e) => `${e.topic}/${e.offset}`)).size).toBe(ids.length)
  })

  it("closes a subscriber that cannot keep up with a final event: error; 199 others get everything", async () => {
    const fast = await Promise.all(range(1, 199).map(() => open("/events/stream?topic=big")))
    const slow = await open("/events/stream?topic=big")
    await Promise.all([...fast, slow].map((s) => s.until((x) => x.comments.includes("connected"))))
    slow.pause()
    // ~10 KB events: the paused socket's buffers take some, then the tail's buffer of CAPACITY fills.
    const filler = "x".repeat(25_000)
    const total = 480
    for (let b = 0; b < total / 40; b++) {
      await ok(
        app.url,
        range(b * 40 + 1, b * 40 + 40).map((i) => event(`big-${i}`, { topic: "big", payload: { filler, i } }))
      )
    }
    await Promise.all(fast.map((s) => s.until((x) => countOf(x) === total, 60_000)))
    for (const s of fast) expect(eventsOf(s).map((e) => e.offset)).toEqual(range(1, total))
    slow.resume()
    await slow.ended
    const last = slow.messages.at(-1)!
    expect(last.event).toBe("error")
    const { error } = JSON.parse(last.data)
    expect(error.code).toBe("slow_subscriber")
    // What it did get is a gap-free prefix, and the message names where to resume.
    const got = eventsOf(slow).map((e) => e.offset)
    expect(got.length).toBeLessThan(total)
    expect(got).toEqual(range(1, got.length))
    expect(error.message).toContain(`Last-Event-ID: ${got.length}`)
    for (const s of fast) expect(s.messages.some((m) => m.event === "error")).toBe(false)
  })

  it("400 for bad parameters or Last-Event-ID, before any stream starts", async () => {
    for (const [path, headers, name] of [
      ["/events/stream?limit=5", {}, "limit"],
      ["/events/stream?after=-1", {}, "after"],
      ["/events/stream?since=soon", {}, "since"],
      ["/events/stream?after=1&since=2026-01-01T00:00:00Z", {}, "since"],
      ["/events/stream?topic=orders", { "last-event-id": "x" }, "Last-Event-ID"]
    ] as const) {
      const r = await send(app.url, { path, headers })
      expect(r.status, path).toBe(400)
      expect(r.json().error.issues.map((i: { path: string }) => i.path)).toContain(name)
    }
  })
})

describe("GET /events/stream auth", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(Layers.memoryDirect(), { apiKeys: ["k1"] })
  })
  afterAll(() => app.close())

  it("needs the bearer token like every route", async () => {
    expect((await send(app.url, { path: "/events/stream?topic=orders" })).status).toBe(401)
    const bad = await send(app.url, { path: "/events/stream", headers: { authorization: "Bearer nope" } })
    expect(bad.status).toBe(401)
    await ok(app.url, [event(1)], { authorization: "Bearer k1" })
    const s = await openSse(app.url, "/events/stream?topic=orders", { authorization: "Bearer k1" })
    try {
      await s.until((x) => countOf(x) === 1)
      expect(eventsOf(s)[0].event_id).toBe("e-1")
    } finally {
      s.close()
    }
  })
})
