/**
 * Fuzz: thousands of generated malformed publish requests (seeded, so a failure replays) against the real app on
 * PGlite. Every answer must be a 4xx with the JSON error body, the service must stay healthy, and the stored
 * data must be exactly what it was before.
 */
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import { event, publish, type RawRequest, type RunningApp, send, startApp, testConfig } from "./utils/TestApp.ts"

const MAX_BODY = 64 * 1024
const SEED = 20261121
const PER_KIND = 260

const json = (value: unknown): RawRequest => ({
  method: "POST",
  path: "/publish",
  headers: { "content-type": "application/json" },
  body: typeof value === "string" ? value : JSON.stringify(value)
})

const validKeys = ["topic", "event_id", "timestamp", "source", "payload"] as const
const notAString = [null, 42, true, [1], {}]
const tooLong = fc.string({ minLength: 256, maxLength: 2000 }).map((s) => `${"z".repeat(256)}${s}`)
/** Values each field must refuse. */
const badValues: Record<(typeof validKeys)[number], fc.Arbitrary<unknown>> = {
  topic: fc.oneof(fc.constantFrom(...notAString, "", "has space", "tab\there", "a\u0000b", "line\nbreak"), tooLong),
  event_id: fc.oneof(fc.constantFrom(...notAString, "", "a\u0000b", "\ud800"), tooLong),
  timestamp: fc.constantFrom(
    ...notAString,
    "",
    "2026-13-45T10:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-11-21T10:00:00",
    "yesterday",
    "2026-11-21T25:00:00Z"
  ),
  source: fc.oneof(fc.constantFrom(...notAString, ""), tooLong),
  payload: fc.constantFrom(null, 42, "text", true, [1, 2], [])
}

/** Each arbitrary yields a request that must be refused with a 4xx. */
const kinds: Record<string, fc.Arbitrary<RawRequest>> = {
  "random bytes": fc.uint8Array({ minLength: 0, maxLength: 2048 }).map((bytes) => ({
    ...json(""),
    body: Buffer.concat([Buffer.from([0xff]), Buffer.from(bytes)]) // 0xff never starts valid UTF-8 JSON
  })),
  "random text": fc
    .string({ maxLength: 300 })
    .filter((s) => {
      try {
        JSON.parse(s)
        return false
      } catch {
        return true
      }
    })
    .map(json),
  "wrong JSON types": fc
    .jsonValue({ maxDepth: 4 })
    .filter((v) => !(typeof v === "object" && v !== null && !Array.isArray(v) && "topic" in v))
    .filter(
      (v) => !(Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "object" && x !== null && "topic" in x))
    )
    .map((v) => json(v)),
  "one bad field": fc
    .constantFrom(...validKeys)
    .chain((key) => fc.tuple(fc.constant(key), badValues[key], fc.integer({ min: 0, max: 3 })))
    .map(([key, value, position]) => {
      const batch = Array.from({ length: 4 }, (_, i) => event(`f${i}`))
      batch[position] = { ...batch[position]!, [key]: value }
      return json(batch)
    }),
  "missing field": fc.constantFrom(...validKeys).map((key) => {
    const { [key]: _gone, ...rest } = event("missing")
    return json(rest)
  }),
  "deep nesting": fc
    .integer({ min: 65, max: 20_000 })
    .chain((depth) =>
      fc.constantFrom(
        json("[".repeat(depth) + "]".repeat(depth)),
        json(
          `{"topic":"t","event_id":"d","timestamp":"2026-11-21T10:00:00Z","source":"s","payload":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`
        )
      )
    ),
  "huge strings": fc
    .integer({ min: 256, max: 30_000 })
    .chain((n) =>
      fc.constantFrom(...validKeys.slice(0, 4)).map((key) => json(event("huge", { [key]: "x".repeat(n) })))
    ),
  "invalid UTF-8 inside JSON": fc
    .constantFrom(
      [0xc3, 0x28],
      [0xa0, 0xa1],
      [0xe2, 0x28, 0xa1],
      [0xf0, 0x28, 0x8c, 0xbc],
      [0xed, 0xa0, 0x80],
      [0xc0, 0xaf]
    )
    .map((bad) => {
      const [head, tail] = JSON.stringify(event("utf8")).split("checkout-svc") as [string, string]
      return { ...json(""), body: Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)]) }
    }),
  "escaped NUL or lone surrogate": fc
    .constantFrom('"a\\u0000b"', '"\\ud800"', '"\\udc00x"', '"x\\ud83d"')
    .chain((s) =>
      fc.constantFrom(
        json(JSON.stringify(event("esc")).replace('"e-esc"', s)),
        json(JSON.stringify(event("esc")).replace('"amount"', s)),
        json(JSON.stringify(event("esc")).replace('"checkout-svc"', s))
      )
    ),
  "wrong content type": fc
    .constantFrom(
      undefined,
      "text/plain",
      "application/xml",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "json",
      "application/json; charset=iso-8859-1"
    )
    .map((type) => ({
      method: "POST",
      path: "/publish",
      headers: type === undefined ? {} : { "content-type": type },
      body: JSON.stringify(event("ct"))
    })),
  "oversize body": fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 4 }).chain((size) =>
    fc.boolean().map((chunked) => ({
      ...json(JSON.stringify(event("big", { payload: { pad: "y".repeat(size) } }))),
      chunked
    }))
  ),
  "too many or empty": fc.constantFrom(
    json([]),
    json({ events: [] }),
    json(Array.from({ length: 11 }, (_, i) => event(`t${i}`)))
  )
}

/** Run `f` over `items` with at most `n` in flight. */
const pool = async <A, B>(items: ReadonlyArray<A>, n: number, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const out: Array<B> = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await f(items[i]!)
      }
    })
  )
  return out
}

describe("fuzz: malformed publish requests", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Pglite" } })), {
      limits: { maxBodyBytes: MAX_BODY, maxEventsPerRequest: 10 }
    })
    expect((await publish(app.url, [event("keep-1"), event("keep-2")])).status).toBe(200)
  })
  afterAll(() => app.close())

  it(`answers ${Object.keys(kinds).length * PER_KIND} malformed requests with 4xx only, and changes nothing`, async () => {
    const before = {
      stats: (await send(app.url, { path: "/stats" })).json(),
      events: (await send(app.url, { path: "/events?limit=1000" })).json()
    }
    const requests = Object.entries(kinds).flatMap(([kind, arb]) =>
      fc.sample(arb, { seed: SEED, numRuns: PER_KIND }).map((request) => ({ kind, request }))
    )
    expect(requests.length).toBeGreaterThanOrEqual(2000)
    const results = await pool(requests, 8, async ({ kind, request }) => {
      const r = await send(app.url, request)
      return { kind, status: r.status, text: r.text, request }
    })
    const wrong = results.filter((r) => r.status < 400 || r.status >= 500)
    expect(
      wrong.slice(0, 5).map((w) => ({
        kind: w.kind,
        status: w.status,
        text: w.text.slice(0, 200),
        body: String(w.request.body).slice(0, 200)
      }))
    ).toEqual([])
    for (const r of results) {
      const body = JSON.parse(r.text)
      expect(typeof body.error.code).toBe("string")
      expect(typeof body.error.message).toBe("string")
    }
    const statuses = new Set(results.map((r) => r.status))
    expect([...statuses].sort()).toEqual([400, 413, 415])

    const health = await send(app.url, { path: "/health" })
    expect(health.status).toBe(200)
    expect((await send(app.url, { path: "/stats" })).json()).toEqual({
      ...before.stats,
      uptime_seconds: expect.any(Number)
    })
    expect((await send(app.url, { path: "/events?limit=1000" })).json()).toEqual(before.events)
  })
})
