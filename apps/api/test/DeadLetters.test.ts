/**
 * The dead-letter routes over the in-memory queued ports: listing (paged, with the event or the raw fields),
 * redrive and discard by id and all, the counters of /stats adding up after each step (`discarded` included), the
 * metrics, the roles (admin key for redrive/discard, 403 for a publish key), and embedded mode (empty listing,
 * 404 for redrive/discard). ADMIN_API_KEYS is validated like API_KEYS.
 */
import { EventLog, Ingest, Tail } from "@agg/core"
import { MemoryEventLog, MemoryEventStore } from "@agg/core/memory"
import { Env } from "@agg/runtime"
import { checkResponse, DeadLettersPage } from "@agg/schema"
import { ConfigProvider, Duration, Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ApiConfig from "../src/Config.ts"
import { Metrics } from "../src/Metrics.ts"
import { event, memoryDirect, publish, type RunningApp, type StartOptions, send, startApp } from "./utils/TestApp.ts"

const json = { "content-type": "application/json" }
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/** A queued app on a memory log the test can also drive as a worker would. */
const startQueued = async (options: StartOptions = {}) => {
  const memLog = Effect.runSync(MemoryEventLog.make())
  const services = Ingest.layerQueuedWith({}).pipe(
    Layer.orDie,
    Layer.provideMerge(
      Layer.mergeAll(Layer.succeed(EventLog.EventLog, memLog.log), MemoryEventStore.layer, Metrics.layer)
    ),
    Layer.provideMerge(Tail.layer().pipe(Layer.provide(MemoryEventStore.layer)))
  )
  const app = await startApp(services, options)
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
  /** Read everything waiting and dead-letter it, as a worker would with entries it cannot commit. */
  const poisonAll = (reason: string) =>
    run(
      Effect.gen(function* () {
        const entries = yield* memLog.log.read("worker", { count: 100, block: Duration.zero })
        for (const entry of entries) yield* memLog.log.deadLetter(entry, reason)
        return entries
      })
    )
  return { app, memLog, run, poisonAll }
}

const stats = async (url: string, headers: Record<string, string> = {}) => {
  const s = (await send(url, { path: "/stats", headers })).json()
  expect(s.received, JSON.stringify(s)).toBe(
    s.unique_processed + s.duplicate_dropped + s.pending + s.dead_lettered + s.discarded
  )
  return s
}

describe("dead letters (queued mode, memory ports)", () => {
  let q: Awaited<ReturnType<typeof startQueued>>
  beforeAll(async () => {
    q = await startQueued()
  })
  afterAll(() => q.app.close())

  it("lists dead letters oldest first with reason, deliveries and event; paged by after", async () => {
    expect((await send(q.app.url, { path: "/dead-letters" })).json()).toEqual({ dead_letters: [], next_after: "0-0" })
    expect((await publish(q.app.url, [event(1), event(2)])).status).toBe(202)
    await q.poisonAll("store refused it")
    const res = await send(q.app.url, { path: "/dead-letters" })
    expect(res.status).toBe(200)
    const page = checkResponse(DeadLettersPage, res.json())
    if (!page.ok) throw new Error(JSON.stringify(page.problems))
    expect(page.value.dead_letters.map((d) => [d.reason, d.deliveries, d.event])).toEqual([
      ["store refused it", 1, event(1)],
      ["store refused it", 1, event(2)]
    ])
    expect(Date.parse(page.value.dead_letters[0]!.dead_lettered_at)).not.toBeNaN()
    const first = (await send(q.app.url, { path: "/dead-letters?limit=1" })).json()
    expect(first.dead_letters.map((d: { id: string }) => d.id)).toEqual([page.value.dead_letters[0]!.id])
    const second = (await send(q.app.url, { path: `/dead-letters?limit=1&after=${first.next_after}` })).json()
    expect(second.dead_letters.map((d: { id: string }) => d.id)).toEqual([page.value.dead_letters[1]!.id])
    expect(await stats(q.app.url)).toMatchObject({ received: 2, dead_lettered: 2, discarded: 0, pending: 0 })
    await send(q.app.url, { method: "POST", path: "/dead-letters/discard", headers: json, body: '{"all":true}' })
  })

  it("an undecodable entry is listed with its raw fields in base64", async () => {
    await q.run(q.memLog.appendUndecodable("not JSON", { v: "1", e: "{oops" }))
    await q.poisonAll("undecodable")
    const [dead] = (await send(q.app.url, { path: "/dead-letters" })).json().dead_letters
    expect(dead).toMatchObject({
      reason: "undecodable",
      raw: { v: "MQ==", e: Buffer.from("{oops").toString("base64") }
    })
    expect(dead.event).toBeUndefined()
    await send(q.app.url, { method: "POST", path: "/dead-letters/discard", headers: json, body: '{"all":true}' })
  })

  it("redrive by id appends back (pending), reports missing ids; the counters add up at every step", async () => {
    await publish(q.app.url, [event(3), event(4)])
    await q.poisonAll("poison")
    const ids = (await send(q.app.url, { path: "/dead-letters" })).json().dead_letters.map((d: { id: string }) => d.id)
    const before = await stats(q.app.url)
    const res = await send(q.app.url, {
      method: "POST",
      path: "/dead-letters/redrive",
      headers: json,
      body: JSON.stringify({ ids: [ids[0], "1-999"] })
    })
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ redriven: 1, missing: ["1-999"], skipped: [] })
    const after = await stats(q.app.url)
    expect(after.dead_lettered).toBe(before.dead_lettered - 1)
    expect(after.pending).toBe(before.pending + 1)
    expect(after.received).toBe(before.received)
    // The redriven entry is delivered again, as a new entry; it fails again and goes back.
    const again = await q.poisonAll("poison again")
    expect(again.map((e) => (e._tag === "Event" ? e.event : null))).toEqual([event(3)])
    expect(await stats(q.app.url)).toMatchObject({ dead_lettered: before.dead_lettered, pending: 0 })

    const all = await send(q.app.url, {
      method: "POST",
      path: "/dead-letters/redrive",
      headers: json,
      body: '{"all":true}'
    })
    expect(all.json()).toEqual({ redriven: before.dead_lettered, missing: [], skipped: [] })
    expect((await stats(q.app.url)).pending).toBe(before.dead_lettered)
    await q.poisonAll("poison again")
    await stats(q.app.url)
  })

  it("DELETE discards one (404 dead_letter_not_found after), POST /discard discards by ids or all", async () => {
    await publish(q.app.url, [event(5), event(6), event(7)])
    await q.poisonAll("poison")
    const ids: Array<string> = (await send(q.app.url, { path: "/dead-letters" }))
      .json()
      .dead_letters.map((d: { id: string }) => d.id)
    const before = await stats(q.app.url)
    const one = await send(q.app.url, { method: "DELETE", path: `/dead-letters/${ids[0]}` })
    expect([one.status, one.json()]).toEqual([200, { discarded: 1, missing: [] }])
    const gone = await send(q.app.url, { method: "DELETE", path: `/dead-letters/${ids[0]}` })
    expect([gone.status, gone.json().error.code]).toEqual([404, "dead_letter_not_found"])
    expect((await send(q.app.url, { method: "DELETE", path: "/dead-letters/nonsense" })).status).toBe(404)
    const some = await send(q.app.url, {
      method: "POST",
      path: "/dead-letters/discard",
      headers: json,
      body: JSON.stringify({ ids: [ids[1], ids[0]] })
    })
    expect(some.json()).toEqual({ discarded: 1, missing: [ids[0]] })
    const after = await stats(q.app.url)
    expect(after.discarded).toBe(before.discarded + 2)
    expect(after.dead_lettered).toBe(before.dead_lettered - 2)
    const rest = await send(q.app.url, {
      method: "POST",
      path: "/dead-letters/discard",
      headers: json,
      body: '{"all":true}'
    })
    expect(rest.json()).toEqual({ discarded: before.dead_lettered - 2, missing: [] })
    expect(await stats(q.app.url)).toMatchObject({ dead_lettered: 0, pending: 0 })
    const metrics = (await send(q.app.url, { path: "/metrics" })).text
    expect(metrics).toMatch(/^agg_dead_letters_redriven_total 3$/m)
    expect(metrics).toMatch(new RegExp(`^agg_discarded ${after.discarded + rest.json().discarded}$`, "m"))
    expect(metrics).toMatch(
      new RegExp(`^agg_dead_letters_discarded_total ${after.discarded + rest.json().discarded}$`, "m")
    )
  })

  it.each([
    ["not JSON", "{", 400, "malformed_json"],
    ["neither ids nor all", "{}", 400, "invalid_body"],
    ["all false", '{"all":false}', 400, "invalid_body"],
    ["empty ids", '{"ids":[]}', 400, "invalid_body"],
    ["a bad id", '{"ids":["x"]}', 400, "invalid_body"],
    ["both", '{"ids":["1-0"],"all":true}', 400, "invalid_body"]
  ])("redrive with %s (%s) is %i %s", async (_what, body, status, code) => {
    const res = await send(q.app.url, { method: "POST", path: "/dead-letters/redrive", headers: json, body })
    expect([res.status, res.json().error.code]).toEqual([status, code])
  })

  it("query and content-type refusals", async () => {
    for (const p of [
      "/dead-letters?limit=0",
      "/dead-letters?limit=1001",
      "/dead-letters?after=x",
      "/dead-letters?x=1"
    ]) {
      const res = await send(q.app.url, { path: p })
      expect([p, res.status, res.json().error.code]).toEqual([p, 400, "invalid_query"])
    }
    const text = await send(q.app.url, {
      method: "POST",
      path: "/dead-letters/redrive",
      headers: { "content-type": "text/plain" },
      body: '{"all":true}'
    })
    expect(text.status).toBe(415)
  })
})

describe("dead-letter roles", () => {
  const redrive = (url: string, headers: Record<string, string>) =>
    send(url, { method: "POST", path: "/dead-letters/redrive", headers: { ...json, ...headers }, body: '{"all":true}' })

  it("publish keys read, only admin keys redrive and discard (403 admin_key_required, 401 without a key)", async () => {
    const q = await startQueued({ apiKeys: ["pub"], adminKeys: ["adm"] })
    try {
      expect((await send(q.app.url, { path: "/dead-letters", headers: bearer("pub") })).status).toBe(200)
      expect((await send(q.app.url, { path: "/dead-letters", headers: bearer("adm") })).status).toBe(200)
      expect((await send(q.app.url, { path: "/stats", headers: bearer("adm") })).status).toBe(200)
      const forbidden = await redrive(q.app.url, bearer("pub"))
      expect([forbidden.status, forbidden.json().error.code]).toEqual([403, "admin_key_required"])
      const deleted = await send(q.app.url, { method: "DELETE", path: "/dead-letters/1-0", headers: bearer("pub") })
      expect([deleted.status, deleted.json().error.code]).toEqual([403, "admin_key_required"])
      expect((await redrive(q.app.url, {})).status).toBe(401)
      expect((await redrive(q.app.url, bearer("wrong"))).status).toBe(401)
      expect((await redrive(q.app.url, bearer("adm"))).json()).toEqual({ redriven: 0, missing: [], skipped: [] })
      expect(
        (await send(q.app.url, { method: "DELETE", path: "/dead-letters/1-0", headers: bearer("adm") })).status
      ).toBe(404)
    } finally {
      await q.app.close()
    }
  })

  it("API_KEYS without ADMIN_API_KEYS: nobody redrives; ADMIN_API_KEYS alone: reads stay open", async () => {
    const pubOnly = await startQueued({ apiKeys: ["pub"] })
    try {
      expect((await redrive(pubOnly.app.url, bearer("pub"))).status).toBe(403)
    } finally {
      await pubOnly.app.close()
    }
    const adminOnly = await startQueued({ adminKeys: ["adm"] })
    try {
      expect((await send(adminOnly.app.url, { path: "/dead-letters" })).status).toBe(200)
      expect((await redrive(adminOnly.app.url, {})).status).toBe(401)
      expect((await redrive(adminOnly.app.url, bearer("adm"))).status).toBe(200)
    } finally {
      await adminOnly.app.close()
    }
  })

  it("ADMIN_API_KEYS is read like API_KEYS: comma-separated, redacted; an empty value is refused", async () => {
    const load = (env: Record<string, string>) =>
      Effect.runPromise(
        Effect.exit(
          ApiConfig.load.pipe(
            Effect.provideService(
              ConfigProvider.ConfigProvider,
              Env.provider({ emptyIsValue: ["API_KEYS", "ADMIN_API_KEYS"], env })
            )
          )
        )
      )
    const ok = await load({ ADMIN_API_KEYS: "a1, a2" })
    expect(ok._tag === "Success" && ok.value.adminApiKeys.length).toBe(2)
    for (const bad of ["", ",", "a b"]) {
      const refused = await load({ ADMIN_API_KEYS: bad })
      expect(refused._tag, JSON.stringify(bad)).toBe("Failure")
      expect(String(refused._tag === "Failure" && refused.cause)).toContain("ADMIN_API_KEYS")
    }
  })
})

describe("dead letters in embedded mode (no stream)", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(memoryDirect())
  })
  afterAll(() => app.close())

  it("the listing is empty; redrive and discard answer 404 no_dead_letter_stream", async () => {
    expect((await send(app.url, { path: "/dead-letters?after=5-0" })).json()).toEqual({
      dead_letters: [],
      next_after: "5-0"
    })
    for (const request of [
      { method: "POST", path: "/dead-letters/redrive", headers: json, body: '{"all":true}' },
      { method: "POST", path: "/dead-letters/discard", headers: json, body: '{"ids":["1-0"]}' },
      { method: "DELETE", path: "/dead-letters/1-0" }
    ]) {
      const res = await send(app.url, request)
      expect([request.path, res.status, res.json().error.code]).toEqual([request.path, 404, "no_dead_letter_stream"])
    }
    expect((await stats(app.url)).discarded).toBe(0)
  })
})
