/**
 * POST /publish over real HTTP, every status and error body of docs/api.md, in both modes on real storage:
 * direct = group commit into PGlite, queued = Redis stream (+ PostgreSQL for reads). Failures of the store or
 * stream (503) use the in-memory ports with a fault hook, since a real server cannot be made to fail on cue.
 */
import { EventLog, EventStore } from "@agg/core"
import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  useRedisPrefix,
  useTestDatabase
} from "@agg/testing/TestServices"
import { Effect, Redacted } from "effect"
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

const limits = { maxEventsPerRequest: 5, maxBodyBytes: 4096, maxPayloadBytes: 512 }

const stats = async (app: RunningApp) => (await send(app.url, { path: "/stats" })).json()

/** The cases every mode must pass; `accepted` is the success status and body of the mode. */
const publishContract = (
  name: string,
  start: () => Promise<RunningApp>,
  success: { readonly status: 200 | 202; readonly direct: boolean }
) =>
  describe(name, () => {
    let app: RunningApp
    beforeAll(async () => {
      app = await start()
    })
    afterAll(() => app.close())

    it("accepts one event, an array, and the {events} wrapper", async () => {
      const one = await publish(app.url, event("one"))
      expect(one.status).toBe(success.status)
      expect(one.headers["content-type"]).toMatch(/^application\/json/)
      const many = await publish(app.url, [event("a1"), event("a2")])
      expect(many.status).toBe(success.status)
      const wrapped = await publish(app.url, { events: [event("w1"), event("w2"), event("w3")] })
      expect(wrapped.status).toBe(success.status)
      if (success.direct) {
        expect(one.json()).toEqual({ accepted: 1, unique: 1, duplicates: 0 })
        expect(many.json()).toEqual({ accepted: 2, unique: 2, duplicates: 0 })
        expect(wrapped.json()).toEqual({ accepted: 3, unique: 3, duplicates: 0 })
      } else {
        expect(one.json()).toEqual({ accepted: 1 })
        expect(many.json()).toEqual({ accepted: 2 })
        expect(wrapped.json()).toEqual({ accepted: 3 })
      }
    })

    it("accepts application/json with a UTF-8 charset", async () => {
      const r = await publish(app.url, event("cs"), { "content-type": "Application/JSON; charset=UTF-8" })
      expect(r.status).toBe(success.status)
    })

    it("400 on malformed JSON, with the error body and nothing accepted", async () => {
      const before = await stats(app)
      for (const body of ['{"topic": ', "not json", "", "[1,2,", Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]) {
        const r = await send(app.url, {
          method: "POST",
          path: "/publish",
          headers: { "content-type": "application/json" },
          body
        })
        expect(r.status).toBe(400)
        const error = r.json().error
        expect(error.code).toBe("malformed_json")
        expect(typeof error.message).toBe("string")
        expect(r.text).not.toMatch(/at .*\.ts:\d+/) // no stack
      }
      expect((await stats(app)).received).toBe(before.received)
    })

    it("400 on an empty batch", async () => {
      for (const body of [[], { events: [] }]) {
        const r = await publish(app.url, body)
        expect(r.status).toBe(400)
        expect(r.json().error.code).toBe("empty_batch")
      }
    })

    it("400 listing every problem by index and path; nothing of the request is accepted", async () => {
      const before = await stats(app)
      const r = await publish(app.url, [
        event("ok-but-refused"),
        event("bad1", { topic: "has space", timestamp: "yesterday" }),
        event("bad2", { payload: [1, 2] }),
        { nope: true }
      ])
      expect(r.status).toBe(400)
      const { error } = r.json()
      expect(error.code).toBe("invalid_events")
      const where = error.issues.map((i: { index: number; path: string }) => `${i.index}:${i.path}`)
      expect(where).toEqual(expect.arrayContaining(["1:topic", "1:timestamp", "2:payload"]))
      expect(error.issues.some((i: { index: number }) => i.index === 3)).toBe(true)
      expect(error.issues.every((i: { message: unknown }) => typeof i.message === "string")).toBe(true)
      expect(error.issues.some((i: { index: number }) => i.index === 0)).toBe(false)
      expect((await stats(app)).received).toBe(before.received)
      const page = await send(app.url, { path: "/events?topic=orders&limit=1000" })
      expect(page.json().events.some((e: { event_id: string }) => e.event_id === "e-ok-but-refused")).toBe(false)
    })

    it("400 on wrong JSON types for the body", async () => {
      for (const body of ["42", '"text"', "null", "true", '{"events": 5}']) {
        const r = await publish(app.url, body)
        expect(r.status).toBe(400)
        expect(r.json().error.code).toBe("invalid_events")
      }
    })

    it("413 when the batch has too many events", async () => {
      const r = await publish(
        app.url,
        Array.from({ length: limits.maxEventsPerRequest + 1 }, (_, i) => event(`m${i}`))
      )
      expect(r.status).toBe(413)
      expect(r.json().error.code).toBe("too_many_events")
    })

    it("413 when the body is too large, announced or streamed (chunked)", async () => {
      const big = JSON.stringify([event("big", { payload: { pad: "x".repeat(limits.maxBodyBytes) } })])
      const announced = await publish(app.url, big)
      expect(announced.status).toBe(413)
      expect(announced.json().error.code).toBe("body_too_large")
      const streamed = await send(app.url, {
        method: "POST",
        path: "/publish",
        headers: { "content-type": "application/json" },
        body: `[${Array.from({ length: 200 }, () => JSON.stringify(event("s"))).join(",")}]`,
        chunked: true
      })
      expect(streamed.status).toBe(413)
      expect(streamed.json().error.code).toBe("body_too_large")
    })

    it("400 (not 413) when one payload is over its own limit", async () => {
      const r = await publish(app.url, event("fat", { payload: { pad: "x".repeat(limits.maxPayloadBytes) } }))
      expect(r.status).toBe(400)
      expect(r.json().error.issues[0]).toMatchObject({ index: 0, path: "payload" })
    })

    it("415 unless the body is declared JSON", async () => {
      for (const type of [
        undefined,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin1"
      ]) {
        const r = await send(app.url, {
          method: "POST",
          path: "/publish",
          headers: type === undefined ? {} : { "content-type": type },
          body: JSON.stringify(event("ct"))
        })
        expect(r.status).toBe(415)
        expect(r.json().error.code).toBe("unsupported_media_type")
      }
    })

    it("404 on unknown routes and 405 (with Allow) on wrong methods", async () => {
      const missing = await send(app.url, { path: "/nope" })
      expect(missing.status).toBe(404)
      expect(missing.json().error.code).toBe("not_found")
      const wrong = await send(app.url, { path: "/publish" })
      expect(wrong.status).toBe(405)
      expect(wrong.headers.allow).toBe("POST")
      expect(wrong.json().error.code).toBe("method_not_allowed")
    })

    it("echoes a request id, or makes one", async () => {
      const given = await send(app.url, { path: "/health", headers: { "x-request-id": "abc-123" } })
      expect(given.headers["x-request-id"]).toBe("abc-123")
      const made = await send(app.url, { path: "/health" })
      expect(made.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
    })
  })

describe("POST /publish", () => {
  publishContract(
    "direct mode, PGlite",
    async () =>
      startApp(Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Pglite" } })), {
        limits
      }),
    { status: 200, direct: true }
  )
  publishContract("direct mode, in memory", () => startApp(memoryDirect(), { limits }), { status: 200, direct: true })
  publishContract("queued mode, in memory", () => startApp(memoryQueued(), { limits }), { status: 202, direct: false })
})

describe("POST /publish, numbers a JavaScript number cannot hold", () => {
  it("are refused with 400 naming the path, so ids differing only in them are never taken for duplicates", async () => {
    const app = await startApp(memoryDirect())
    try {
      const body = (id: string, value: string) =>
        `[{"topic":"orders","event_id":"${id}","timestamp":"2026-11-21T10:00:00Z","source":"s","payload":{"v":${value}}}]`
      for (const value of ["1e400", "1".repeat(300), String(2n ** 64n + 1n)]) {
        const r = await publish(app.url, body("n-1", value))
        expect(r.status, value).toBe(400)
        const { error } = r.json()
        expect(error.code).toBe("invalid_events")
        expect(error.issues.map((i: { index: number; path: string }) => [i.index, i.path])).toEqual([[0, "payload.v"]])
      }
      // the same key with a value that does survive, then another: a conflict, not a duplicate
      expect((await publish(app.url, body("n-2", "18446744073709552000"))).json()).toMatchObject({ unique: 1 })
      expect((await publish(app.url, body("n-2", "18446744073709551616"))).status).toBe(400)
      expect((await send(app.url, { path: "/stats" })).json()).toMatchObject({ received: 1, conflicts: 0 })
    } finally {
      await app.close()
    }
  })
})

describe("POST /publish, an error body stays small", () => {
  it("a body of 10,000 invalid events lists the first 100 problems and counts them all", async () => {
    const app = await startApp(memoryDirect())
    try {
      const body = `[${Array.from({ length: 10_000 }, () => "{}").join(",")}]`
      const one = (await publish(app.url, "[{}]")).json().error
      const r = await publish(app.url, body)
      expect(r.status).toBe(400)
      const { error } = r.json()
      expect(error.code).toBe("invalid_events")
      expect(error.issues).toHaveLength(100)
      expect(error.issue_count).toBe(10_000 * one.issues.length)
      expect(one.issue_count).toBe(one.issues.length)
      expect(r.text.length).toBeLessThan(body.length)
    } finally {
      await app.close()
    }
  })
})

const services = [await checkPostgres(), await checkRedis()]
describeWithServices("POST /publish, direct mode on PostgreSQL (DATABASE_URL)", [services[0]!], () => {
  const db = useTestDatabase()
  publishContract(
    "direct, PostgreSQL",
    () =>
      startApp(
        Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Postgres", url: Redacted.make(db().url) } })),
        {
          limits
        }
      ),
    { status: 200, direct: true }
  )
})

describeWithServices("POST /publish, queued mode on Redis and PostgreSQL", services, () => {
  const db = useTestDatabase()
  const redis = useRedisPrefix()
  publishContract(
    "queued",
    () =>
      startApp(
        Layers.services(
          testConfig({
            _tag: "Queued",
            redisUrl: Redacted.make(redis.url),
            streamKey: redis.prefix,
            databaseUrl: Redacted.make(db().url)
          })
        ),
        { limits }
      ),
    { status: 202, direct: false }
  )
})

describe("503 with Retry-After when the store or stream cannot take the events", () => {
  const unavailable = { operation: "x", retryable: true, message: "connection refused" }
  it("direct mode: a retryable store failure", async () => {
    const app = await startApp(
      memoryDirect({
        fault: (op) =>
          op === "commit" ? Effect.fail(new EventStore.EventStoreError({ ...unavailable, operation: op })) : Effect.void
      })
    )
    try {
      const r = await publish(app.url, event(1))
      expect(r.status).toBe(503)
      expect(r.headers["retry-after"]).toBe("1")
      expect(r.json()).toEqual({ error: { code: "unavailable", message: expect.any(String) } })
      expect(r.text).not.toContain("connection refused")
    } finally {
      await app.close()
    }
  })
  it("queued mode: a retryable stream failure", async () => {
    const app = await startApp(
      memoryQueued({
        fault: (op) =>
          op === "append" ? Effect.fail(new EventLog.EventLogError({ ...unavailable, operation: op })) : Effect.void
      })
    )
    try {
      const r = await publish(app.url, event(1))
      expect(r.status).toBe(503)
      expect(r.headers["retry-after"]).toBe("1")
      expect(r.json().error.code).toBe("unavailable")
    } finally {
      await app.close()
    }
  })
  it("a non-retryable store failure is a 500 without internals", async () => {
    const app = await startApp(
      memoryDirect({
        fault: (op) =>
          op === "commit"
            ? Effect.fail(
                new EventStore.EventStoreError({
                  operation: op,
                  retryable: false,
                  message: "relation x does not exist"
                })
              )
            : Effect.void
      })
    )
    try {
      const r = await publish(app.url, event(1))
      expect(r.status).toBe(500)
      expect(r.json()).toEqual({ error: { code: "internal_error", message: "internal error" } })
    } finally {
      await app.close()
    }
  })
})
