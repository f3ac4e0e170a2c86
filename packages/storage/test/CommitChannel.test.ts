/**
 * Commit notifications over real Redis pub/sub: a commit through a store notifying on `CommitChannel.publisher`
 * wakes a `Tail` subscribed with `CommitChannel.subscriber` in another "process" (its own connections), with the
 * tail's own timer set far away, so only the notification can deliver it. Plus the message format.
 */
import { CommitSignal, EventStore, Tail } from "@agg/core"
import { MemoryEventStore } from "@agg/core/memory"
import { checkRedis, describeWithServices, TestRedis } from "@agg/testing/TestServices"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import { createClient } from "redis"
import * as CommitChannel from "../src/redis/CommitChannel.ts"
import * as StreamKeys from "../src/redis/StreamKeys.ts"

describe("CommitChannel messages", () => {
  it("lists topics as JSON, too many as *, and ignores anything else", () => {
    assert.deepStrictEqual(CommitChannel.decode(CommitChannel.encode(["a", "b c"])), ["a", "b c"])
    const many = Array.from({ length: CommitChannel.MAX_TOPICS + 1 }, (_, i) => `t${i}`)
    assert.strictEqual(CommitChannel.encode(many), "*")
    assert.strictEqual(CommitChannel.decode("*"), "all")
    assert.strictEqual(CommitChannel.decode("{nope"), undefined)
    assert.strictEqual(CommitChannel.decode("[1]"), undefined)
  })
})

describeWithServices("CommitChannel over Redis", [await checkRedis()], () => {
  it.live("a commit in the publishing process wakes the subscribed tail at once", () =>
    Effect.gen(function* () {
      const redis = yield* TestRedis
      const config = { url: redis.url, streamKey: `${redis.prefix}:events` }
      // One store both sides read and write (standing in for the shared database).
      const store = MemoryEventStore.layer
      const apiSide = CommitChannel.subscriber(config).pipe(
        Layer.provideMerge(Tail.layer({ pollInterval: "1 hour" })),
        Layer.provide(store)
      )
      const workerSide = CommitSignal.notifying.pipe(Layer.provide(Layer.merge(store, CommitChannel.publisher(config))))
      const context = yield* Layer.build(Layer.merge(apiSide, workerSide))
      const tail = Context.get(context, Tail.Tail)
      const committer = Context.get(context, EventStore.EventStore)
      const sub = yield* tail.subscribe({ topic: "orders", after: 0 })
      const first = yield* Effect.forkChild(sub.take)
      // Wait until the subscriber has joined the reader (its empty backlog read done) and Redis has the channel's
      // subscription (made in the background).
      yield* Effect.repeat(tail.stats, { until: (s) => s.subscribers === 1 })
      const probe = yield* Effect.acquireRelease(
        Effect.promise(() => createClient({ url: redis.url, RESP: 2 }).connect()),
        (c) => Effect.promise(() => c.close())
      )
      const channel = StreamKeys.make(config.streamKey).commits
      yield* Effect.promise(() => probe.pubSubNumSub(channel)).pipe(
        Effect.repeat({ until: (counts) => Number(counts[channel] ?? 0) === 1 })
      )
      yield* committer.commit([
        {
          event: {
            topic: "orders",
            event_id: "e-1",
            timestamp: "2026-11-21T10:00:00.000Z",
            source: "s",
            payload: {}
          }
        }
      ])
      const got = yield* Fiber.join(first).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(
        got.map((e) => e.event_id),
        ["e-1"]
      )
    }).pipe(Effect.scoped, Effect.provide(TestRedis.layer()))
  )
})
