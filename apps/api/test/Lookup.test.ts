/**
 * GET /events/{topic}/{event_id} and GET /conflicts on PGlite: keys with `/`, `%`, spaces and non-ASCII round-trip
 * through URL-encoded path segments; a missing key is 404 `event_not_found`; a key published again with other
 * content keeps its first version stored and both versions can be read back, the later one from /conflicts.
 */
import { ConflictsPage, checkResponse, StoredEvent } from "@agg/schema"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import { event, publish, type RunningApp, send, startApp, testConfig } from "./utils/TestApp.ts"

const path = (topic: string, id: string) => `/events/${encodeURIComponent(topic)}/${encodeURIComponent(id)}`

describe("point lookup and conflicts (direct mode, PGlite)", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Pglite" } })))
  })
  afterAll(() => app.close())

  it("any valid topic and id round-trips through the path: slashes, %, spaces, non-ASCII", async () => {
    const keys: ReadonlyArray<readonly [string, string]> = [
      ["a/b", "c/d"],
      ["100%", "50% off"],
      ["orders", "id with  spaces"],
      ["zürich/東京", "ключ 😀"],
      ["%2F", "%2F/%252F"],
      ["plain", "+?#&="]
    ]
    const events = keys.map(([topic, id], i) => event(i, { topic, event_id: id }))
    expect((await publish(app.url, events)).json()).toMatchObject({ accepted: keys.length, unique: keys.length })
    for (const [i, [topic, id]] of keys.entries()) {
      const res = await send(app.url, { path: path(topic, id) })
      expect(res.status, `${topic} / ${id}`).toBe(200)
      const body = res.json()
      expect(checkResponse(StoredEvent, body).ok).toBe(true)
      expect(body).toMatchObject({ ...events[i], offset: 1 })
      expect(Date.parse(body.received_at)).not.toBeNaN()
    }
  })

  it("a missing key is 404 event_not_found; a segment that is no valid topic is 400", async () => {
    const missing = await send(app.url, { path: path("a/b", "nope") })
    expect(missing.status).toBe(404)
    expect(missing.json().error.code).toBe("event_not_found")
    const bad = await send(app.url, { path: path("has space", "x") })
    expect(bad.status).toBe(400)
    expect(bad.json().error).toMatchObject({ code: "invalid_query", issues: [{ path: "topic" }] })
    // A slash that is not encoded is another path: no route.
    expect((await send(app.url, { path: "/events/a/b/c/d" })).status).toBe(404)
  })

  it("a conflicting version: the first stays stored, the later ones are read back from /conflicts, paged", async () => {
    const first = event("k", { topic: "conflicts/a", payload: { v: 1 } })
    expect((await publish(app.url, first)).json()).toMatchObject({ unique: 1 })
    await publish(app.url, { ...first, payload: { v: 2 } })
    await publish(app.url, { ...first, source: "other-svc", payload: { v: 3 } })
    await publish(app.url, first) // an exact duplicate is no conflict
    const stored = (await send(app.url, { path: path("conflicts/a", "e-k") })).json()
    expect(stored).toMatchObject({ ...first, offset: 1 })

    const res = await send(app.url, { path: `/conflicts?topic=${encodeURIComponent("conflicts/a")}` })
    expect(res.status).toBe(200)
    const page = checkResponse(ConflictsPage, res.json())
    if (!page.ok) throw new Error(JSON.stringify(page.problems))
    expect(page.value.conflicts.map((c) => [c.payload, c.source, c.version, c.rejected, c.stored_offset])).toEqual([
      [{ v: 2 }, first.source, 1, 2, 1],
      [{ v: 3 }, "other-svc", 2, 2, 1]
    ])
    expect(page.value.next_after).toBe(page.value.conflicts[1]!.position)

    const one = (await send(app.url, { path: "/conflicts?topic=conflicts%2Fa&limit=1" })).json()
    expect(one.conflicts).toHaveLength(1)
    const rest = (await send(app.url, { path: `/conflicts?topic=conflicts%2Fa&after=${one.next_after}` })).json()
    expect(rest.conflicts.map((c: { payload: unknown }) => c.payload)).toEqual([{ v: 3 }])
    const all = (await send(app.url, { path: "/conflicts" })).json()
    expect(all.conflicts.length).toBeGreaterThanOrEqual(2)
    const stats = (await send(app.url, { path: "/stats" })).json()
    expect(stats.conflicts).toBe(2)
    expect((await send(app.url, { path: "/metrics" })).text).toMatch(/^agg_conflicts_stored_total 2$/m)
  })

  it.each([
    "/conflicts?limit=0",
    "/conflicts?limit=1001",
    "/conflicts?after=-1",
    "/conflicts?limit=1&limit=2",
    "/conflicts?nope=1",
    "/conflicts?since=2026-01-01T00:00:00Z"
  ])("%s is 400 invalid_query", async (p) => {
    const res = await send(app.url, { path: p })
    expect(res.status).toBe(400)
    expect(res.json().error.code).toBe("invalid_query")
  })
})
