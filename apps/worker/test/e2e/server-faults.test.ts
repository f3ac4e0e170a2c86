/**
 * The servers themselves fail under steady publishing with 3 workers: Redis is shut down or killed with -9 and
 * started again (AOF, fsync always), PostgreSQL is restarted (fast) or crashed (immediate stop) and started again.
 * Each test runs on its own private PostgreSQL and Redis (never the machine's shared ones) and ends with the exact
 * verification: no loss, one row per key, offsets 1..count, /stats exact, nothing pending, nothing dead-lettered.
 * While Redis is down the api answers 503 with Retry-After and /health says the stream is down; it, the workers and
 * the publisher recover by themselves.
 */
import { StreamKeys } from "@agg/storage"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { makeWorkload, type WireEvent, type Workload } from "../utils/Events.ts"
import { HttpFailure, waitFor } from "../utils/Http.ts"
import { type PublishSummary, publishAll, type Stats } from "../utils/Publish.ts"
import { type PrivateServers, withPrivateServers } from "../utils/Services.ts"
import { type Stack, startStack } from "../utils/Stack.ts"
import { pendingByConsumer, progressed, verifyStats, verifyStore, waitDrained, withRedis } from "../utils/Verify.ts"

const TOTAL = 3_000
const BATCH = 25
// 25 events every 20 ms: ~1,250 events/s, so publishing lasts a few seconds and every fault hits it mid-run.
const BATCH_INTERVAL_MS = 20

interface Health {
  readonly status: number
  readonly body: {
    readonly status?: string
    readonly checks?: Readonly<Record<string, { readonly status: string; readonly error?: string }>>
  }
}

/** GET /health with its status (a 503 is an answer here, not a failure). */
const health = (stack: Stack): Effect.Effect<Health, HttpFailure> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`${stack.apiUrl}/health`, { signal })
      return { status: response.status, body: (await response.json()) as Health["body"] }
    },
    catch: (cause) => new HttpFailure({ message: `GET /health: ${String(cause)}` })
  })

const waitHealth = (stack: Stack, label: string, done: (h: Health) => boolean) =>
  waitFor(label, health(stack), done, { timeoutMs: 60_000, intervalMs: 50, context: stack.describe })

const healthy = (h: Health) => h.status === 200 && h.body.status === "ok"

/** POST one event once (no retry), for its status and Retry-After. */
const publishOnce = (stack: Stack, event: WireEvent) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`${stack.apiUrl}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([event]),
        signal
      })
      await response.arrayBuffer()
      return { status: response.status, retryAfter: response.headers.get("retry-after") }
    },
    catch: (cause) => new HttpFailure({ message: `POST /publish: ${String(cause)}` })
  })

/** What the publisher saw from the api, attempt by attempt. */
interface Answers {
  ok: number
  unavailable: number
  unavailableWithoutRetryAfter: number
  other: Array<number>
}

/** Start publishing the workload at a steady rate, retrying long enough to ride out an outage. */
const publishSteadily = (stack: Stack, workload: Workload, answers: Answers) =>
  Effect.forkChild(
    publishAll(stack.apiUrl, workload.events, {
      batch: BATCH,
      concurrency: 4,
      batchIntervalMs: BATCH_INTERVAL_MS,
      maxAttempts: 120,
      onAnswer: (status, headers) => {
        if (status >= 200 && status < 300) answers.ok++
        else if (status === 503) {
          answers.unavailable++
          if (headers.get("retry-after") === null) answers.unavailableWithoutRetryAfter++
        } else answers.other.push(status)
      }
    })
  )

const workerRetries = (stack: Stack) =>
  stack.workerMetrics.pipe(Effect.map((m) => m.get("agg_worker_retries_total") ?? 0))

/**
 * Each of the consumers talks to Redis again: its heartbeat mark was refreshed since Redis came back (more than
 * `ttlMs - beatMs` of its time to live left, which a mark restored from the AOF cannot have for long). A worker's
 * reads show only in the partitions it owns and only when they return entries, so the mark is the one sign every
 * running worker gives.
 */
const consumersBeating = (stack: Stack, names: ReadonlyArray<string>, ttlMs: number, beatMs: number) =>
  waitFor(
    `consumers ${names.join(", ")} beating again`,
    withRedis(stack.redisUrl, async (r) => {
      const keys = StreamKeys.make(stack.streamKey)
      return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await r.pTTL(keys.consumer(n))] as const)))
    }),
    (ttl) => names.every((n) => (ttl[n] ?? -1) > ttlMs - beatMs),
    { timeoutMs: 30_000, intervalMs: 50, context: stack.describe }
  )

/** After the publisher finished: drain, then every invariant exactly, and no server fault left a trace. */
const verifyAll = (stack: Stack, workload: Workload, published: PublishSummary, answers: Answers) =>
  Effect.gen(function* () {
    assert.strictEqual(published.accepted, workload.events.length, "every event was eventually accepted")
    assert.deepStrictEqual(answers.other, [], "no answer other than 2xx and 503")
    const stats = yield* waitDrained(stack.apiUrl, { minReceived: workload.events.length, context: stack.describe })
    // A 503 can be ambiguous too: an append in flight when Redis died (or shut down) may have been executed and
    // fsynced without its reply ever being sent. So `received` may exceed what was accepted by those batches, but
    // by no more (the probe of `redisOutage` checks that a request answered 503 while Redis was down never lands).
    yield* verifyStats(stats, {
      unique: workload.unique,
      topics: workload.expected.keys(),
      minReceived: workload.events.length,
      maxReceived: workload.events.length + published.ambiguousEvents + answers.unavailable * BATCH
    })
    const extra = stats as Stats & { readonly dead_lettered?: number; readonly discarded?: number }
    assert.strictEqual(extra.dead_lettered, 0, "nothing dead-lettered because a server was down")
    assert.strictEqual(
      stats.received,
      stats.unique_processed +
        stats.duplicate_dropped +
        stats.pending +
        (extra.dead_lettered ?? 0) +
        (extra.discarded ?? 0)
    )
    assert.strictEqual(yield* verifyStore(stack.databaseUrl, workload.expected), workload.unique)
    assert.deepStrictEqual([...(yield* pendingByConsumer(stack.redisUrl, stack.streamKey))], [])
    for (const w of stack.workers())
      assert.isTrue(Option.isNone(w.status()), `${w.name} stayed up:\n${stack.describe()}`)
    assert.isTrue(Option.isNone(stack.api().status()), "the api stayed up")
  })

/**
 * One fault test: start the stack on the private servers, publish steadily, wait for progress, run `fault` while
 * the publisher is still sending, then verify everything.
 */
const underFault = (
  prefix: string,
  seed: number,
  fault: (servers: PrivateServers, stack: Stack, answers: Answers) => Effect.Effect<void, unknown>
) =>
  withPrivateServers((servers) =>
    Effect.gen(function* () {
      const stack = yield* startStack({ workers: 3 })
      const workload = makeWorkload({ prefix, total: TOTAL, duplicateRatio: 0.3, topics: 4, seed })
      const answers: Answers = { ok: 0, unavailable: 0, unavailableWithoutRetryAfter: 0, other: [] }
      const publishing = yield* publishSteadily(stack, workload, answers)
      yield* progressed(stack, 500)
      assert.isBelow(answers.ok, Math.ceil(TOTAL / BATCH), "the publisher is still sending when the fault hits")
      yield* fault(servers, stack, answers)
      yield* verifyAll(stack, workload, yield* Fiber.join(publishing), answers)
    })
  )

/**
 * Redis goes away (`stop`), and while it is away: /health answers 503 naming the stream (the store stays up), the
 * publisher gets 503s with Retry-After, and the workers fail their reads and retry. Then it comes back on the same
 * AOF, and the api, the workers and the publisher carry on by themselves.
 */
const redisOutage =
  (stop: (servers: PrivateServers) => Effect.Effect<void, unknown>) =>
  (servers: PrivateServers, stack: Stack, answers: Answers) =>
    Effect.gen(function* () {
      const retriesBefore = yield* workerRetries(stack)
      yield* stop(servers)
      yield* waitHealth(
        stack,
        "/health to report the stream down",
        (h) => h.status === 503 && h.body.checks?.stream?.status === "down" && h.body.checks.store?.status === "up"
      )
      yield* waitFor(
        "the publisher to get a 503",
        Effect.sync(() => answers.unavailable),
        (n) => n > 0,
        {
          timeoutMs: 30_000,
          intervalMs: 20,
          context: stack.describe
        }
      )
      assert.strictEqual(answers.unavailableWithoutRetryAfter, 0, "every 503 carries Retry-After")
      // Sent and answered while Redis is certainly down: a 503 then must mean "not appended", also once Redis is
      // back (an append left queued in the client would land on the reconnect). Its topic is in no workload, so
      // verifyStore fails if it is ever stored.
      const probe = yield* publishOnce(stack, {
        topic: "probe-503",
        event_id: "answered-503",
        timestamp: new Date().toISOString(),
        source: "e2e",
        payload: {}
      })
      assert.strictEqual(probe.status, 503, "503 while Redis is down")
      assert.match(probe.retryAfter ?? "", /^\d+$/, "with Retry-After in seconds")
      yield* waitFor("the workers to fail and retry", workerRetries(stack), (n) => n > retriesBefore, {
        timeoutMs: 30_000,
        intervalMs: 50,
        context: stack.describe
      })
      yield* Effect.promise(() => servers.redis.start())
      yield* waitHealth(stack, "/health to recover by itself", healthy)
      // The workers' default 3 s heartbeat ttl, refreshed every second: allow one late beat.
      yield* consumersBeating(stack, ["w1", "w2", "w3"], 3_000, 2_000)
    })

describe("e2e: PostgreSQL and Redis restarted and crashed under load", () => {
  it.live("Redis SHUTDOWN, then start on the same AOF: nothing acknowledged is lost", () =>
    underFault(
      "rs",
      11,
      redisOutage((servers) =>
        Effect.promise(() => servers.redis.shutdown()).pipe(
          Effect.map((exit) => assert.deepStrictEqual(exit, { code: 0, signal: null }))
        )
      )
    )
  )

  it.live("Redis kill -9, then start on the same AOF: every acknowledged event, XACK and counter survives", () =>
    underFault(
      "rk",
      12,
      redisOutage((servers) =>
        Effect.promise(() => servers.redis.kill9()).pipe(
          Effect.map((exit) => assert.strictEqual(exit.signal, "SIGKILL"))
        )
      )
    )
  )

  it.live("PostgreSQL fast restart: workers reconnect by themselves, nothing dead-lettered", () =>
    underFault("pf", 13, (servers, stack) =>
      Effect.gen(function* () {
        yield* Effect.promise(() => servers.postgres.restart({ mode: "fast" }))
        yield* waitHealth(stack, "/health to be ok after the restart", healthy)
      })
    )
  )

  it.live("PostgreSQL immediate stop (crash) + start: recovery from the WAL, workers retry and carry on", () =>
    underFault("pc", 14, (servers, stack) =>
      Effect.gen(function* () {
        const retriesBefore = yield* workerRetries(stack)
        yield* Effect.promise(() => servers.postgres.crash())
        yield* waitHealth(
          stack,
          "/health to report the store down",
          (h) => h.status === 503 && h.body.checks?.store?.status === "down"
        )
        yield* waitFor("the workers to fail their commits and retry", workerRetries(stack), (n) => n > retriesBefore, {
          timeoutMs: 30_000,
          intervalMs: 50,
          context: stack.describe
        })
        yield* Effect.promise(() => servers.postgres.start())
        assert.match(servers.postgres.log(200), /not properly shut down; automatic recovery in progress/)
        yield* waitHealth(stack, "/health to recover by itself", healthy)
      })
    )
  )
})
