/**
 * Scenario s: live subscribers through `@agg/client` while workers commit: one follows a topic, one follows all
 * topics. The api is restarted (SIGTERM) and a worker is killed with kill -9 mid-run; both subscribers resume by
 * themselves and, once everything is stored, have seen every stored event exactly once: the topic's offsets
 * 1..n in order, and over all topics strictly rising positions covering every stored event.
 */

import { createClient, type StoredEvent } from "@agg/client"
import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { makeWorkload } from "../utils/Events.ts"
import { waitFor } from "../utils/Http.ts"
import { getStats, publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { startStack } from "../utils/Stack.ts"
import { verifyDrained } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

/** Collect a subscription's events until aborted. */
const collect = (iterator: AsyncIterable<StoredEvent>, into: Array<StoredEvent>) =>
  (async () => {
    for await (const event of iterator) into.push(event)
  })()

describeWithServices("e2e: live subscribers", services, () => {
  it.live("s. per-topic and all-topics subscribers hold on through an api restart and a worker kill -9", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 3 })
        const workload = makeWorkload({ prefix: "s", total: 6_000, duplicateRatio: 0.3, topics: 4, seed: 11 })
        const topic = [...workload.expected.keys()][0]!
        const reconnects: Array<string> = []
        const client = createClient({
          url: stack.apiUrl,
          reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
          onReconnect: (info) => reconnects.push(info.reason)
        })
        const stop = new AbortController()
        const perTopic: Array<StoredEvent> = []
        const all: Array<StoredEvent> = []
        const following = Promise.all([
          collect(client.subscribe(topic, { after: 0, signal: stop.signal }), perTopic),
          collect(client.subscribe({ all: true }, { after: 0, signal: stop.signal }), all)
        ])
        yield* Effect.addFinalizer(() => Effect.sync(() => stop.abort()))

        const publishing = yield* Effect.forkChild(
          publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4, maxAttempts: 60 })
        )
        const seen = (n: number) =>
          waitFor(
            `the all-topics subscriber to have ${n} events`,
            Effect.sync(() => all.length),
            (k) => k >= n,
            {
              timeoutMs: 60_000,
              intervalMs: 20,
              context: stack.describe
            }
          )
        yield* seen(500)
        const api = stack.api()
        yield* api.kill("SIGTERM")
        yield* api.exit
        yield* stack.restartApi
        yield* seen(1_500)
        const [victim] = stack.workers()
        if (victim === undefined) return assert.fail("no worker started")
        yield* victim.kill("SIGKILL")
        yield* victim.exit
        yield* stack.startWorker

        const published = yield* Fiber.join(publishing)
        yield* verifyDrained(stack, workload, published)
        const stats = yield* getStats(stack.apiUrl)
        const inTopic = workload.expected.get(topic)!.size
        yield* waitFor(
          "both subscribers to have every stored event",
          Effect.sync(() => [perTopic.length, all.length] as const),
          ([t, a]) => t >= inTopic && a >= stats.unique_processed,
          { timeoutMs: 60_000, intervalMs: 20, context: stack.describe }
        )
        stop.abort()
        yield* Effect.promise(() => following)

        assert.deepStrictEqual(
          perTopic.map((e) => e.offset),
          Array.from({ length: inTopic }, (_, i) => i + 1)
        )
        assert.isTrue(perTopic.every((e) => e.topic === topic))
        const positions = all.map((e) => e.position ?? 0)
        assert.isTrue(
          positions.every((p, i) => i === 0 || p > positions[i - 1]!),
          "all-topics positions strictly rise"
        )
        assert.strictEqual(all.length, stats.unique_processed)
        const keys = new Set(all.map((e) => `${e.topic}\u0000${e.event_id}`))
        assert.strictEqual(keys.size, all.length, "no event twice")
        for (const [t, ids] of workload.expected) {
          for (const id of ids) assert.isTrue(keys.has(`${t}\u0000${id}`), `${t}/${id} was streamed`)
        }
        assert.isAbove(reconnects.length, 0, "the api restart made the subscribers reconnect")
      })
    )
  )
})
