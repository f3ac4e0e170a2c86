/** GET /events on PGlite: per-topic paging in offset order, all-topics paging in storage order, bad parameters. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import { event, publish, type RunningApp, send, startApp, testConfig } from "./utils/TestApp.ts"

describe("GET /events", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Pglite" } })))
    // 25 orders and 10 payments, interleaved over several requests, with duplicates that must not show up
    for (let i = 0; i < 5; i++) {
      const batch = [
        ...Array.from({ length: 5 }, (_, j) => event(i * 5 + j)),
        ...Array.from({ length: 2 }, (_, j) => event(`p${i * 2 + j}`, { topic: "payments" })),
        event(0)
      ]
      expect((await publish(app.url, batch)).status).toBe(200)
    }
  })
  afterAll(() => app.close())

  const get = async (query: string) => send(app.url, { path: `/events${query}` })

  it("pages one topic by offset with next_after, gap-free, without duplicates", async () => {
    const seen: Array<number> = []
    let after = 0
    let pages = 0
    for (let full = true; full; pages++) {
      const r = await get(`?topic=orders&after=${after}&limit=10`)
      expect(r.status).toBe(200)
      const body = r.json()
      for (const e of body.events) {
        expect(e.topic).toBe("orders")
        expect(typeof e.received_at).toBe("string")
        expect(e.position).toBeUndefined()
        seen.push(e.offset)
      }
      expect(body.next_after).toBe(seen.at(-1))
      after = body.next_after
      full = body.events.length === 10
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1))
    expect(pages).toBe(3)
  })

  it("returns the stored event fields", async () => {
    const r = await get("?topic=orders&limit=1")
    expect(r.json().events[0]).toMatchObject({
      topic: "orders",
      event_id: "e-0",
      timestamp: "2026-11-21T10:00:00.123Z",
      source: "checkout-svc",
      payload: { amount: 500, n: 0 },
      offset: 1
    })
    expect(r.json().next_after).toBe(1)
  })

  it("without topic: every topic, in storage order, same paging", async () => {
    const all: Array<string> = []
    let after = 0
    for (let full = true; full; ) {
      const body: { events: Array<{ topic: string; event_id: string; position: number }>; next_after: number } = (
        await get(`?after=${after}&limit=7`)
      ).json()
      for (const e of body.events) {
        expect(e.position).toBeGreaterThan(after)
        after = e.position
        all.push(`${e.topic}/${e.event_id}`)
      }
      expect(body.next_after).toBe(after)
      full = body.events.length === 7
    }
    expect(all).toHaveLength(35)
    expect(new Set(all).size).toBe(35)
    expect(all.slice(0, 7)).toEqual([
      "orders/e-0",
      "orders/e-1",
      "orders/e-2",
      "orders/e-3",
      "orders/e-4",
      "payments/e-p0",
      "payments/e-p1"
    ])
  })

  it("defaults: after 0, limit 100", async () => {
    const body = (await get("")).json()
    expect(body.events).toHaveLength(35)
    expect(body.next_after).toBe(body.events.at(-1).position)
  })

  it("an unknown topic is an empty page", async () => {
    expect((await get("?topic=nothing")).json()).toEqual({ events: [], next_after: 0 })
    expect((await get("?topic=nothing&after=42")).json()).toEqual({ events: [], next_after: 42 })
  })

  it("400 on bad parameters, naming each", async () => {
    for (const [query, path] of [
      ["?limit=0", "limit"],
      ["?limit=1001", "limit"],
      ["?limit=abc", "limit"],
      ["?after=-1", "after"],
      ["?after=1.5", "after"],
      ["?topic=", "topic"],
      ["?topic=a%20b", "topic"],
      ["?colour=red", "colour"],
      ["?limit=1&limit=2", "limit"]
    ] as const) {
      const r = await get(query)
      expect(r.status, query).toBe(400)
      const { error } = r.json()
      expect(error.code).toBe("invalid_query")
      expect(
        error.issues.map((i: { path: string }) => i.path),
        query
      ).toContain(path)
    }
  })

  it("since=<time> starts at the first event received at or after it, per topic and over all topics", async () => {
    const all = (await get("?topic=orders&limit=1000")).json().events as Array<{ offset: number; received_at: string }>
    const pivot = all[12]!
    const expectedFirst = all.find((e) => e.received_at >= pivot.received_at)!.offset
    const page = (await get(`?topic=orders&since=${encodeURIComponent(pivot.received_at)}&limit=1000`)).json()
    expect(page.events[0].offset).toBe(expectedFirst)
    expect(page.events.at(-1).offset).toBe(25)
    expect(page.next_after).toBe(25)

    const everything = (await get("?limit=1000")).json().events as Array<{ position: number; received_at: string }>
    const firstPosition = everything.find((e) => e.received_at >= pivot.received_at)!.position
    const allPage = (await get(`?since=${encodeURIComponent(pivot.received_at)}&limit=1000`)).json()
    expect(allPage.events[0].position).toBe(firstPosition)

    // After the newest event: an empty page whose cursor is the end of the log, to tail from.
    const future = (await get("?topic=orders&since=2999-01-01T00:00:00Z")).json()
    expect(future).toEqual({ events: [], next_after: 25 })
  })

  it("400 for a bad since, or since beside after", async () => {
    for (const query of ["?since=yesterday", "?since=2026-11-21T10:00:00", "?since=2026-11-21T10:00:00Z&after=1"]) {
      const r = await get(query)
      expect(r.status, query).toBe(400)
      expect(r.json().error.issues.map((i: { path: string }) => i.path)).toEqual(["since"])
    }
  })
})
