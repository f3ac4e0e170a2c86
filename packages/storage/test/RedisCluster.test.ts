/**
 * The Redis log on a real 3-master Redis Cluster (started privately for this file): the `EventLog` contract with
 * partitions spread over the masters, every MULTI and script within one slot, the durability check of every
 * master, commit notifications across nodes, and a master killed and restarted under appends.
 */
import { CommitSignal, type EventLog, EventStore, Partitioning, Tail } from "@agg/core"
import { MemoryEventStore } from "@agg/core/memory"
import type { Event } from "@agg/schema"
import { eventLogSuite } from "@agg/testing/EventLogSuite"
import { usePrivateRedisCluster } from "@agg/testing/PrivateRedisCluster"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Schedule } from "effect"
import * as CommitChannel from "../src/redis/CommitChannel.ts"
import * as RedisDurability from "../src/redis/Durability.ts"
import * as RedisEventLog from "../src/redis/RedisEventLog.ts"

const event = (topic: string, i: number): Event => ({
  topic,
  event_id: `e${i}`,
  timestamp: "2026-12-01T10:00:00.000Z",
  source: "cluster",
  payload: { i }
})

describe("RedisEventLog on a Redis Cluster", () => {
  const cluster = usePrivateRedisCluster()
  let n = 0
  const freshKey = () => `agg:cluster:${process.pid}:${++n}`
  const target = () => ({ clusterNodes: cluster().rootNodes.split(",") })

  eventLogSuite(
    "Redis Cluster",
    Layer.unwrap(
      Effect.sync(() =>
        RedisEventLog.layer({ ...target(), streamKey: freshKey(), partitions: 4, timeout: "10 seconds" })
      )
    ),
    { partitions: 4 }
  )

  it.live("partitions spread over the masters; a request's events are all appended and counted", () =>
    Effect.gen(function* () {
      const { log, keys } = yield* RedisEventLog.makeScoped({ ...target(), streamKey: freshKey(), partitions: 16 })
      const masters = new Set(
        yield* Effect.promise(() =>
          Promise.all(Array.from({ length: 16 }, (_, i) => cluster().nodeFor(keys.partition(i).stream)))
        )
      )
      assert.isAtLeast(masters.size, 2, "partitions live on more than one master")
      const topics = Array.from({ length: 24 }, (_, i) => `cluster.t${i}`)
      yield* log.append(topics.map((topic, i) => event(topic, i)))
      assert.strictEqual((yield* log.stats).received, 24)
      const got = yield* log.read("c1", { count: 100, block: Duration.millis(50) })
      assert.strictEqual(got.length, 24)
      for (const entry of got) {
        assert.strictEqual(entry._tag, "Event")
        if (entry._tag === "Event")
          assert.strictEqual(entry.stream, keys.partition(Partitioning.partitionOf(entry.event.topic, 16)).stream)
      }
    }).pipe(Effect.scoped)
  )

  it.live("the durability check asks every master", () =>
    Effect.gen(function* () {
      const checked = yield* RedisDurability.check(target())
      assert.deepStrictEqual(checked, { _tag: "Checked", appendonly: "yes", appendfsync: "always", durable: true })
    })
  )

  it.live("a commit notification published on one node reaches a subscriber connected to the cluster", () =>
    Effect.gen(function* () {
      const config = { ...target(), streamKey: freshKey() }
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
      yield* Effect.repeat(tail.stats, { until: (s) => s.subscribers === 1 })
      // Both connections are made in the background: commit again until a notification got through (the tail's
      // own check runs once an hour, so only a notification can deliver the event).
      let i = 0
      const got = yield* Effect.gen(function* () {
        yield* committer.commit([{ event: event("orders", ++i) }])
        return yield* Fiber.join(first).pipe(Effect.timeout("200 millis"))
      }).pipe(Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 100 }))
      assert.isAtLeast(got.length, 1)
      assert.strictEqual(got[0]?.event_id, "e1")
    }).pipe(Effect.scoped)
  )

  it.live(
    "a master killed and restarted: appends fail retryable meanwhile, then everything acknowledged is there",
    () =>
      Effect.gen(function* () {
        const { log, keys } = yield* RedisEventLog.makeScoped({
          ...target(),
          streamKey: freshKey(),
          partitions: 8,
          timeout: "2 seconds"
        })
        const topics = Array.from({ length: 16 }, (_, i) => `kill.t${i}`)
        yield* log.append(topics.map((topic, i) => event(topic, i)))
        const victim = yield* Effect.promise(() => cluster().nodeFor(keys.partition(0).stream))
        yield* Effect.promise(() => cluster().kill(victim))
        const during = yield* Effect.flip(log.append(topics.map((topic, i) => event(topic, 100 + i))))
        assert.isTrue(during.retryable, during.message)
        yield* Effect.promise(() => cluster().start(victim))
        // The client finds the node again by itself; the caller's retry then appends the whole request.
        yield* log
          .append(topics.map((topic, i) => event(topic, 100 + i)))
          .pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 }))
        const entries: Array<EventLog.LogEntry> = []
        while (true) {
          const page = yield* log
            .read("c1", { count: 1000, block: Duration.millis(50) })
            .pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 }))
          if (page.length === 0) break
          entries.push(...page)
        }
        const ids = new Set(
          entries.flatMap((e) => (e._tag === "Event" ? [`${e.event.topic}/${e.event.event_id}`] : []))
        )
        for (const [i, topic] of topics.entries()) {
          assert.isTrue(ids.has(`${topic}/e${i}`), `${topic}/e${i} from before the kill`)
          assert.isTrue(ids.has(`${topic}/e${100 + i}`), `${topic}/e${100 + i} from the retried request`)
        }
        // A partial append before the failure leaves duplicates of some events, never a gap.
        assert.isAtLeast((yield* log.stats).received, 32)
      }).pipe(Effect.scoped),
    60_000
  )
})
