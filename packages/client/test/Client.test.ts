import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { EventInput } from "@agg/schema"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { backoffDelay, ClientError, createClient, parseRetryAfter, type RetryInfo } from "../src/index.ts"

/** One scripted answer per request, in order; the last one repeats. */
type Step = (req: IncomingMessage, res: ServerResponse, body: string) => void

interface Scripted {
  readonly url: string
  readonly requests: Array<{ method: string; url: string; headers: IncomingMessage["headers"]; body: string }>
}

const servers: Array<Server> = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

const scripted = async (steps: ReadonlyArray<Step>): Promise<Scripted> => {
  const requests: Scripted["requests"] = []
  const server = createServer(async (req, res) => {
    const chunks: Array<Buffer> = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks).toString("utf8")
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body })
    const step = steps[Math.min(requests.length, steps.length) - 1] as Step
    step(req, res, body)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

const reply =
  (status: number, body: unknown, headers: Record<string, string> = {}): Step =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers })
    res.end(JSON.stringify(body))
  }
const reset: Step = (req) => req.socket.destroy()
const hang: Step = () => {}

const events: ReadonlyArray<EventInput> = [
  { topic: "orders", event_id: "e-1", timestamp: "2026-01-01T00:00:00Z", source: "t", payload: { a: 1 } },
  { topic: "orders", event_id: "e-2", timestamp: "2026-01-01T00:00:01Z", source: "t", payload: { a: 2 } }
]

// random pinned to 0.5: backoff before retry n is floor(0.5 * min(40, 10 * 2^n)) = 5, 10, 20, 20 …
const fastRetry = { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 40 }

describe("Client.publish", () => {
  it("retries 503 (Retry-After), 500 and a reset connection, resending the same body, then succeeds", async () => {
    const api = await scripted([
      reply(503, { code: "UNAVAILABLE" }, { "retry-after": "1" }),
      reply(500, { code: "INTERNAL" }),
      reset,
      reply(202, { accepted: 2 })
    ])
    const retries: Array<RetryInfo> = []
    const client = createClient({
      url: api.url,
      apiKey: "k1",
      retry: fastRetry,
      random: () => 0.5,
      maxRetryAfterMs: 30, // Retry-After: 1 s, capped to 30 ms so the test stays fast; backoff alone would say 5
      onRetry: (info) => retries.push(info)
    })
    const result = await client.publish(events)

    assert.strictEqual(result.accepted, 2)
    assert.strictEqual(result.attempts, 4)
    assert.strictEqual(result.ambiguousAttempts, 2)
    assert.strictEqual(api.requests.length, 4)
    for (const r of api.requests) {
      assert.strictEqual(r.method, "POST")
      assert.strictEqual(r.url, "/publish")
      assert.strictEqual(r.body, JSON.stringify(events))
      assert.strictEqual(r.headers["content-type"], "application/json")
      assert.strictEqual(r.headers.authorization, "Bearer k1")
    }
    assert.deepStrictEqual(
      retries.map((r) => [r.attempt, r.status, r.delayMs, r.ambiguous]),
      [
        [1, 503, 30, false],
        [2, 500, 10, true],
        [3, undefined, 20, true]
      ]
    )
  })

  it("honours Retry-After of 0 and retries 429", async () => {
    const api = await scripted([reply(429, {}, { "retry-after": "0" }), reply(200, { accepted: 1 })])
    const delays: Array<number> = []
    const client = createClient({
      url: api.url,
      retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 1000 },
      random: () => 0.99,
      onRetry: (i) => delays.push(i.delayMs)
    })
    const result = await client.publish(events[0] as EventInput)
    assert.strictEqual(result.attempts, 2)
    assert.deepStrictEqual(delays, [0]) // backoff alone would have waited 990 ms
    assert.strictEqual(api.requests[0]?.body, JSON.stringify(events[0]))
  })

  it("does not retry a 400: ClientError with status, code and the body's problems", async () => {
    const problems = [{ index: 1, path: "timestamp", message: "timestamp must be ISO 8601 with a zone" }]
    const api = await scripted([
      reply(400, { error: { code: "invalid_events", message: "1 invalid event", issues: problems } }),
      reply(202, { accepted: 2 })
    ])
    let retried = 0
    const client = createClient({ url: api.url, retry: fastRetry, onRetry: () => retried++ })
    const error = await client.publish(events).then(
      () => assert.fail("expected a ClientError"),
      (e: unknown) => e
    )
    assert.instanceOf(error, ClientError)
    assert.strictEqual(error.status, 400)
    assert.strictEqual(error.code, "invalid_events")
    assert.deepStrictEqual(error.problems, problems)
    assert.strictEqual(error.retryable, false)
    assert.strictEqual(error.attempts, 1)
    assert.strictEqual(error.message, "HTTP 400 invalid_events: [1] timestamp must be ISO 8601 with a zone")
    assert.strictEqual(api.requests.length, 1)
    assert.strictEqual(retried, 0)
  })

  it("does not retry 401, 413 or 415", async () => {
    for (const status of [401, 413, 415]) {
      const api = await scripted([reply(status, {}), reply(202, { accepted: 2 })])
      const client = createClient({ url: api.url, retry: fastRetry })
      const error = await client.publish(events).catch((e: unknown) => e)
      assert.instanceOf(error, ClientError)
      assert.strictEqual(error.status, status)
      assert.strictEqual(error.code, `HTTP_${status}`)
      assert.strictEqual(api.requests.length, 1)
    }
  })

  it("gives up after maxAttempts with the last failure, retryable", async () => {
    const api = await scripted([reply(503, { error: { code: "overloaded", message: "try later" } })])
    const client = createClient({ url: api.url, retry: { ...fastRetry, maxAttempts: 3 }, random: () => 0 })
    const error = await client.publish(events).catch((e: unknown) => e)
    assert.instanceOf(error, ClientError)
    assert.strictEqual(error.status, 503)
    assert.strictEqual(error.code, "overloaded")
    assert.strictEqual(error.attempts, 3)
    assert.strictEqual(error.retryable, true)
    assert.match(error.message, /gave up after 3 attempts/)
    assert.strictEqual(api.requests.length, 3)
  })

  it("times out a silent attempt and retries it", async () => {
    const api = await scripted([hang, reply(202, { accepted: 2 })])
    const reasons: Array<string> = []
    const client = createClient({
      url: api.url,
      retry: fastRetry,
      timeoutMs: 150,
      onRetry: (i) => reasons.push(i.reason)
    })
    const result = await client.publish(events)
    assert.strictEqual(result.attempts, 2)
    assert.strictEqual(result.ambiguousAttempts, 1)
    assert.strictEqual(reasons.length, 1)
    assert.match(reasons[0] ?? "", /no answer within 150 ms/)
    assert.strictEqual(api.requests[1]?.body, api.requests[0]?.body)
  })

  it("retries a refused connection as a network error", async () => {
    const api = await scripted([reply(202, { accepted: 2 })])
    const port = new URL(api.url).port
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve))
    const client = createClient({ url: `http://127.0.0.1:${port}`, retry: { ...fastRetry, maxAttempts: 2 } })
    const error = await client.publish(events).catch((e: unknown) => e)
    assert.instanceOf(error, ClientError)
    assert.strictEqual(error.code, "NETWORK_ERROR")
    assert.strictEqual(error.status, undefined)
    assert.strictEqual(error.attempts, 2)
  })

  it("validates its options", () => {
    assert.throws(() => createClient({ url: "not a url" }), /url is not a valid URL/)
    assert.throws(() => createClient({ url: "ftp://x" }), /url must be http/)
    assert.throws(() => createClient({ url: "http://x", retry: { maxAttempts: 0 } }), /maxAttempts/)
    assert.throws(() => createClient({ url: "http://x", timeoutMs: 0 }), /timeoutMs/)
  })
})

describe("Client reads", () => {
  it("stats() and pages() follow next_after until a short page", async () => {
    const ev = (offset: number) => ({ ...events[0], event_id: `e-${offset}`, offset, received_at: "x" })
    const api = await scripted([
      reply(200, {
        received: 3,
        unique_processed: 3,
        duplicate_dropped: 0,
        conflicts: 0,
        pending: 0,
        topics: ["orders"],
        uptime_seconds: 1
      }),
      reply(200, { events: [ev(1), ev(2)], next_after: 2 }),
      reply(200, { events: [ev(3)], next_after: 3 })
    ])
    const client = createClient({ url: `${api.url}/` }) // a trailing slash does not double up
    const stats = await client.stats()
    assert.strictEqual(stats.unique_processed, 3)
    const offsets: Array<number> = []
    for await (const page of client.pages({ topic: "orders", limit: 2 }))
      offsets.push(...page.events.map((e) => e.offset))
    assert.deepStrictEqual(offsets, [1, 2, 3])
    assert.deepStrictEqual(
      api.requests.map((r) => r.url),
      ["/stats", "/events?topic=orders&limit=2", "/events?topic=orders&after=2&limit=2"]
    )
  })
})

describe("Client conflicts and dead letters", () => {
  const dead = {
    id: "1733045000000-0",
    stream: "{agg:events:p0}:stream",
    entry_id: "1733044000000-3",
    reason: "refused",
    deliveries: 2,
    dead_lettered_at: "2026-12-01T10:00:00.000Z",
    event: { topic: "orders", event_id: "e-1", timestamp: "2026-01-01T00:00:00Z", source: "t", payload: { a: 1 } }
  }
  it("sends the query or the selection, and checks each answer against its schema", async () => {
    const api = await scripted([
      reply(200, { conflicts: [], next_after: 7 }),
      reply(200, { dead_letters: [dead], next_after: dead.id }),
      reply(200, { redriven: 1, missing: ["1-0"], skipped: [] }),
      reply(200, { discarded: 3, missing: [] }),
      reply(200, { discarded: "all" })
    ])
    const client = createClient({ url: api.url, apiKey: "adm", retry: fastRetry, random: () => 0.5 })
    assert.deepStrictEqual(await client.conflicts({ topic: "a/b", after: 7 }), { conflicts: [], next_after: 7 })
    assert.deepStrictEqual(await client.deadLetters.list({ after: "1-0", limit: 5 }), {
      dead_letters: [dead],
      next_after: dead.id
    })
    assert.deepStrictEqual(await client.deadLetters.redrive([dead.id, "1-0"]), {
      redriven: 1,
      missing: ["1-0"],
      skipped: []
    })
    assert.deepStrictEqual(await client.deadLetters.discard("all"), { discarded: 3, missing: [] })
    const bad = await client.deadLetters.discard([dead.id]).catch((e: unknown) => e)
    assert.instanceOf(bad, ClientError)
    assert.deepStrictEqual(
      api.requests.map((r) => [r.method, r.url, r.body]),
      [
        ["GET", "/conflicts?topic=a%2Fb&after=7", ""],
        ["GET", "/dead-letters?after=1-0&limit=5", ""],
        ["POST", "/dead-letters/redrive", JSON.stringify({ ids: [dead.id, "1-0"] })],
        ["POST", "/dead-letters/discard", '{"all":true}'],
        ["POST", "/dead-letters/discard", JSON.stringify({ ids: [dead.id] })]
      ]
    )
    assert.strictEqual(api.requests[2]!.headers.authorization, "Bearer adm")
  })
})

describe("Client.publish batching", () => {
  it("splits a large publish into requests of at most batchSize, in order, and sums the answers", async () => {
    const api = await scripted([
      (_req, res, body) => {
        const n = (JSON.parse(body) as Array<unknown>).length
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ accepted: n, unique: n - 1, duplicates: 1 }))
      }
    ])
    const many = Array.from({ length: 5 }, (_, i) => ({ ...events[0]!, event_id: `b-${i}` }))
    const result = await createClient({ url: api.url, batchSize: 2 }).publish(many)
    assert.deepStrictEqual(
      api.requests.map((r) => (JSON.parse(r.body) as Array<{ event_id: string }>).map((e) => e.event_id)),
      [["b-0", "b-1"], ["b-2", "b-3"], ["b-4"]]
    )
    assert.strictEqual(result.accepted, 5)
    assert.strictEqual(result.unique, 2)
    assert.strictEqual(result.duplicates, 3)
    assert.strictEqual(result.attempts, 3)
  })
})

describe("backoff", () => {
  it("full jitter: uniform in [0, min(cap, base * 2^n))", () => {
    const opts = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1000 }
    assert.strictEqual(
      backoffDelay(0, opts, () => 0),
      0
    )
    assert.strictEqual(
      backoffDelay(0, opts, () => 0.5),
      50
    )
    assert.strictEqual(
      backoffDelay(2, opts, () => 0.5),
      200
    )
    assert.strictEqual(
      backoffDelay(20, opts, () => 0.999),
      999
    ) // capped
  })

  it("parses Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-11-21T10:00:00Z")
    assert.strictEqual(parseRetryAfter("3", now), 3000)
    assert.strictEqual(parseRetryAfter("0", now), 0)
    assert.strictEqual(parseRetryAfter("Sat, 21 Nov 2026 10:00:05 GMT", now), 5000)
    assert.strictEqual(parseRetryAfter("Sat, 21 Nov 2026 09:00:00 GMT", now), 0)
    assert.strictEqual(parseRetryAfter("soon", now), undefined)
    assert.strictEqual(parseRetryAfter(null, now), undefined)
  })
})
