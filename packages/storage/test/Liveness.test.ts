// Consumer liveness on a real Redis: the heartbeat keys (`Liveness`, `{S}:consumer:<name>`), a consumer that dies
// with entries in hand reclaimed within about 5 s, a slow live one never robbed, dead consumers removed from the
// group once empty, and, on a private Redis killed with -9 and started again, nothing reclaimed during the grace.
// The store is core's memory store: what is under test is the log and the consumer's use of it.
import { Consumer, EventLog, EventStore } from "@agg/core"
import { MemoryEventStore } from "@agg/core/memory"
import type { Event } from "@agg/schema"
import { gateCommits } from "@agg/testing/Gates"
import { usePrivateRedis } from "@agg/testing/PrivateRedis"
import { checkRedis, describeWithServices, useRedisPrefix } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Layer, Schedule } from "effect"
import { createClient } from "redis"
import * as Liveness from "../src/redis/Liveness.ts"
import * as RedisEventLog from "../src/redis/RedisEventLog.ts"

const redis = await checkRedis()

const events = (n: number): Array<Event> =>
  Array.from({ length: n }, (_, i) => ({
    topic: "liveness",
    event_id: `e${i}`,
    timestamp: "2026-11-21T10:00:00.000Z",
    source: "test",
    payload: { i }
  }))

// Production defaults (3 s marks, 1 s passes), a short block so reads come round quickly.
const live = {
  block: "200 millis",
  heartbeatTtl: "3 seconds",
  reclaimIdle: "3 seconds",
  reclaimInterval: "1 second"
} as const

/** Wait for `done` to hold, polling every 50 ms, failing after `timeoutMs`. */
const waitUntil = <E>(label: string, probe: Effect.Effect<boolean, E>, timeoutMs: number) =>
  probe.pipe(
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail(`not yet: ${label}` as const))),
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: Math.ceil(timeoutMs / 50) })
  )

/** A log on `url`, a raw client, the memory store, and the helpers the tests share. */
const setup = (url: string, streamKey: string) =>
  Effect.gen(function* () {
    const { log, keys } = yield* RedisEventLog.makeScoped({ url, streamKey, partitions: 1 })
    const raw = yield* Effect.acquireRelease(
      Effect.promise(() =>
        createClient({ url, RESP: 2 })
          .on("error", () => undefined)
          .connect()
      ),
      (c) => Effect.sync(() => c.destroy())
    )
    const store = yield* MemoryEventStore.make()
    const layer = Layer.mergeAll(Layer.succeed(EventLog.EventLog, log), Layer.succeed(EventStore.EventStore, store))
    const p0 = keys.partition(0).stream
    // Pending entries by consumer, and the group's consumer names, straight from Redis.
    const pendingOf = (name: string) =>
      Effect.promise(async () => (await raw.xPendingRange(p0, keys.group, "-", "+", 1000, { consumer: name })).length)
    const members = Effect.promise(async () =>
      ((await raw.xInfoConsumers(p0, keys.group)) as unknown as Array<{ name: string }>).map((c) => c.name)
    )
    return { log, keys, raw, store, layer, pendingOf, members }
  })

describeWithServices("Consumer liveness on Redis", [redis], () => {
  const prefix = useRedisPrefix()
  let n = 0
  const freshKey = () => `${prefix.prefix}:l${++n}`

  it.live("heartbeat keys: {S}:consumer:<name>, listed in {S}:consumers, alive until the ttl passes, removable", () =>
    Effect.gen(function* () {
      const s = yield* setup(prefix.url, freshKey())
      const liveness = Liveness.make(s.raw, s.keys.consumer, s.keys.consumers)
      yield* Effect.promise(() => liveness.beat("b", Duration.millis(200)))
      yield* Effect.promise(() => liveness.beat("a", Duration.seconds(30)))
      assert.deepStrictEqual([...(yield* Effect.promise(() => liveness.alive(["a", "b", "c"])))], ["a", "b"])
      assert.deepStrictEqual(yield* Effect.promise(() => liveness.live()), ["a", "b"], "sorted")
      assert.deepStrictEqual((yield* Effect.promise(() => s.raw.sMembers(`{${s.keys.streamKey}}:consumers`))).sort(), [
        "a",
        "b"
      ])
      const ttl = yield* Effect.promise(() => s.raw.pTTL(`{${s.keys.streamKey}}:consumer:a`))
      assert.isTrue(ttl > 29_000 && ttl <= 30_000, `ttl ${ttl}`)
      yield* waitUntil(
        "b's mark expired",
        Effect.promise(async () => !(await liveness.alive(["b"])).has("b")),
        5_000
      )
      assert.deepStrictEqual(yield* Effect.promise(() => liveness.live()), ["a"], "an expired member leaves the list")
      assert.deepStrictEqual(yield* Effect.promise(() => s.raw.sMembers(`{${s.keys.streamKey}}:consumers`)), ["a"])
      yield* Effect.promise(() => liveness.remove(["a"]))
      assert.strictEqual((yield* Effect.promise(() => liveness.alive(["a"]))).size, 0)
      assert.deepStrictEqual(yield* Effect.promise(() => liveness.live()), [])
    }).pipe(Effect.scoped)
  )

  it.live("a consumer that dies with entries in hand: reclaimed within about 5 s, then removed from the group", () =>
    Effect.gen(function* () {
      const s = yield* setup(prefix.url, freshKey())
      yield* s.log.append(events(5))
      // w1 beats (as its fiber would, every second), reads, and is killed right after: no more beats, no ack.
      yield* s.log.heartbeat("w1", Duration.seconds(3))
      assert.strictEqual((yield* s.log.read("w1", { count: 10, block: Duration.millis(50) })).length, 5)
      const died = yield* Clock.currentTimeMillis
      // w2 as if it had been running for long: no start-up grace (that grace has its own test below).
      const w2 = yield* Effect.forkChild(
        Consumer.run({ ...live, consumer: "w2", reclaimGrace: 0 }).pipe(Effect.provide(s.layer))
      )
      yield* waitUntil(
        "w1's entries committed by w2",
        Effect.map(s.store.stats, (st) => st.unique === 5),
        10_000
      )
      const elapsed = (yield* Clock.currentTimeMillis) - died
      assert.isAtLeast(elapsed, 2_900, "not before the mark expired")
      assert.isAtMost(elapsed, 5_500, "within about 5 s of the death")
      assert.strictEqual(yield* s.pendingOf("w1"), 0)
      yield* waitUntil(
        "w1 removed from the group",
        Effect.map(s.members, (names) => !names.includes("w1")),
        5_000
      )
      assert.strictEqual((yield* s.log.stats).pending, 0)
      yield* Fiber.interrupt(w2)
    }).pipe(Effect.scoped)
  )

  it.live("a slow but live consumer keeps its entries; nobody else commits them", () =>
    Effect.gen(function* () {
      const s = yield* setup(prefix.url, freshKey())
      const { store: slow, started, open } = yield* gateCommits(s.store)
      yield* s.log.append(events(3))
      const w1 = yield* Effect.forkChild(
        Consumer.run({ ...live, consumer: "w1" }).pipe(
          Effect.provide(
            Layer.mergeAll(Layer.succeed(EventLog.EventLog, s.log), Layer.succeed(EventStore.EventStore, slow))
          )
        )
      )
      yield* started
      const w2 = yield* Consumer.make({ ...live, consumer: "w2", reclaimGrace: 0 }).pipe(Effect.provide(s.layer))
      const running = yield* Effect.forkChild(w2.run)
      // Long past mark ttl + reclaim idle + interval (3 + 3 + 1 s): a dead consumer's entries would have moved.
      yield* Effect.sleep("8 seconds")
      assert.strictEqual(yield* s.pendingOf("w1"), 3, "still w1's")
      assert.strictEqual((yield* w2.metrics).reclaimed, 0)
      yield* open
      yield* waitUntil(
        "w1 committed and acked",
        Effect.map(s.log.stats, (st) => st.pending === 0),
        10_000
      )
      const st = yield* s.store.stats
      assert.deepStrictEqual([st.unique, st.duplicates], [3, 0])
      yield* Fiber.interrupt(w1)
      yield* Fiber.interrupt(running)
    }).pipe(Effect.scoped)
  )
})

describeWithServices("Consumer liveness across a Redis restart", [redis], () => {
  const server = usePrivateRedis()

  it.live(
    "after Redis is killed and started again (every mark expired), nothing is reclaimed during the grace",
    () =>
      Effect.gen(function* () {
        const s = yield* setup(server().url, "liveness:restart")
        const liveness = Liveness.make(s.raw, s.keys.consumer, s.keys.consumers)
        yield* s.log.append(events(3))
        // "x" is a live consumer: a fiber of its own beats every 500 ms (ttl 2 s) while `beating`.
        let beating = true
        yield* Effect.forkChild(
          Effect.forever(
            Effect.andThen(
              Effect.sleep("500 millis"),
              Effect.suspend(() =>
                beating ? Effect.ignore(Effect.tryPromise(() => liveness.beat("x", Duration.seconds(2)))) : Effect.void
              )
            )
          )
        )
        yield* s.log.heartbeat("x", Duration.seconds(2))
        assert.strictEqual((yield* s.log.read("x", { count: 10, block: Duration.millis(50) })).length, 3)
        const w2 = yield* Consumer.make({ ...live, consumer: "w2", reclaimGrace: "6 seconds" }).pipe(
          Effect.provide(s.layer)
        )
        const running = yield* Effect.forkChild(w2.run)
        yield* Effect.sleep("6500 millis") // past w2's start-up grace
        assert.strictEqual(yield* s.pendingOf("x"), 3, "x is alive")
        // Redis dies for longer than x's ttl: its mark is gone when the AOF is loaded again.
        beating = false
        yield* Effect.promise(() => server().kill9())
        yield* Effect.sleep("2500 millis")
        yield* Effect.promise(() => server().start())
        // x reconnects slowly: it beats again only 3 s after Redis is back. Without the grace, w2's passes (every
        // second) would take its entries in that window.
        yield* waitUntil(
          "Redis back",
          Effect.promise(() =>
            s.raw.ping().then(
              () => true,
              () => false
            )
          ),
          10_000
        )
        assert.strictEqual((yield* Effect.promise(() => liveness.alive(["x"]))).size, 0, "every mark expired")
        yield* Effect.sleep("3 seconds")
        beating = true
        yield* Effect.sleep("2 seconds")
        assert.strictEqual(yield* s.pendingOf("x"), 3, "nothing reclaimed during the grace")
        assert.strictEqual((yield* w2.metrics).reclaimed, 0)
        // x dies for good: after its mark expires, w2 takes over, at delivery 2 (the outage cost no delivery).
        beating = false
        yield* waitUntil(
          "x's entries committed by w2",
          Effect.map(s.store.stats, (st) => st.unique === 3),
          15_000
        )
        assert.strictEqual((yield* w2.metrics).reclaimed, 3)
        assert.deepStrictEqual((yield* s.log.stats).deadLettered, 0)
        yield* Fiber.interrupt(running)
      }).pipe(Effect.scoped),
    60_000
  )
})
