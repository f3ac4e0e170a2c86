/**
 * GracefulStop against real Redis and PostgreSQL: a worker stopped while its XREADGROUP is blocked still receives
 * an entry Redis hands it during that read, and commits and acks it before the stop completes. Interrupting the
 * consumer directly instead throws that read's reply away while Redis has already assigned the entry to it, and
 * the entry stays pending for a consumer that is gone (this test then fails). Plus, on the in-memory ports and the
 * test clock: a stop while the store is down gives up after the timeout and leaves the entries pending.
 */
import { Consumer, EventLog, EventStore, GracefulStop } from "@agg/core"
import { MemoryEventLog, MemoryEventStore } from "@agg/core/memory"
import { PgEventStore, RedisEventLog } from "@agg/storage"
import { checkPostgres, checkRedis, describeWithServices, TestDatabase, TestRedis } from "@agg/testing/TestServices"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { pendingByConsumer } from "./utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

/** Signals `started` when the first read begins. */
const spyOnReads = (started: Deferred.Deferred<void>) =>
  Layer.effect(
    EventLog.EventLog,
    Effect.gen(function* () {
      const log = yield* EventLog.EventLog
      return EventLog.EventLog.of({
        ...log,
        read: (consumer, options) =>
          Deferred.succeed(started, undefined).pipe(Effect.andThen(log.read(consumer, options)))
      })
    })
  )

describeWithServices("GracefulStop", services, () => {
  it.live("a consumer stopped during a blocked read still commits and acks what that read delivers", () =>
    Effect.gen(function* () {
      const db = yield* TestDatabase
      const redis = yield* TestRedis
      const streamKey = `${redis.prefix}:events`
      const started = yield* Deferred.make<void>()
      // The test's own handle on the stream, to append while the consumer is stopping.
      const plain = yield* RedisEventLog.makeScoped({ url: redis.url, streamKey })
      // What the worker composes: the consumer over the gated log over the Redis log (with a spy in between to
      // know when the read is blocked), and the PostgreSQL store.
      const consumerLog = GracefulStop.layer.pipe(
        Layer.provide(spyOnReads(started)),
        Layer.provide(RedisEventLog.layer({ url: redis.url, streamKey }))
      )

      yield* Effect.gen(function* () {
        const consumer = yield* Consumer.make({ consumer: "c1", block: "3 seconds" })
        const running = yield* Effect.forkChild(GracefulStop.runGracefully(consumer, Duration.seconds(10)))
        yield* Deferred.await(started)

        // Stop the worker while its read is blocked on an empty stream; then an event arrives.
        const stopping = yield* Effect.forkChild(Fiber.interrupt(running))
        yield* Effect.yieldNow
        yield* plain.log.append([
          {
            topic: "t",
            event_id: "arrives-while-stopping",
            timestamp: "2026-11-21T10:00:00.000Z",
            source: "test",
            payload: {}
          }
        ])
        yield* Fiber.join(stopping)

        assert.deepStrictEqual([...(yield* pendingByConsumer(redis.url, streamKey))], [], "nothing left pending")
        assert.strictEqual(yield* (yield* GracefulStop.LogDrain).held, 0)
        const stats = yield* (yield* EventStore.EventStore).stats
        assert.strictEqual(stats.unique, 1, "the event delivered during the stop was committed")
      }).pipe(Effect.provide(Layer.mergeAll(consumerLog, PgEventStore.layer({ url: db.url, poolSize: 2 }))))
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(TestDatabase.layer(), TestRedis.layer())))
  )
})

const event = {
  topic: "t",
  event_id: "e1",
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "test",
  payload: {}
}

describe("GracefulStop on the in-memory ports", () => {
  it.effect("a stop while the store is down waits up to the timeout, then leaves the entries pending", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryEventLog.make()
      const down = new EventStore.EventStoreError({ operation: "commit", retryable: true, message: "store down" })
      const store = yield* MemoryEventStore.make({ fault: (op) => (op === "commit" ? Effect.fail(down) : Effect.void) })
      const layers = Layer.mergeAll(
        GracefulStop.layer.pipe(Layer.provide(Layer.succeed(EventLog.EventLog, memory.log))),
        Layer.succeed(EventStore.EventStore, store)
      )
      yield* Effect.gen(function* () {
        const consumer = yield* Consumer.make({ consumer: "c1", block: "1 second" })
        yield* memory.log.append([event])
        const running = yield* Effect.forkChild(GracefulStop.runGracefully(consumer, Duration.seconds(20)))
        const drain = yield* GracefulStop.LogDrain
        // The consumer takes the entry and keeps retrying its commit.
        for (let i = 0; i < 50 && (yield* drain.held) === 0; i++) yield* TestClock.adjust("100 millis")
        assert.strictEqual(yield* drain.held, 1, "the consumer holds the entry")
        const stopping = yield* Effect.forkChild(Fiber.interrupt(running))
        yield* TestClock.adjust("19 seconds")
        assert.isUndefined(stopping.pollUnsafe(), "still draining before the timeout")
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(stopping)
        assert.strictEqual(yield* drain.held, 1, "the entry was neither acked nor dead-lettered")
        assert.strictEqual((yield* memory.log.stats).pending, 1, "it stays pending for another consumer")
      }).pipe(Effect.provide(layers))
    })
  )
})
