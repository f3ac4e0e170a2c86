// Consumer liveness on the memory ports with TestClock: a consumer that stops beating (killed) has its entries
// reclaimed within about heartbeatTtl + reclaimInterval; a live but slow one keeps them however long it takes;
// after the log was unreachable nothing is reclaimed during the grace; dead consumers with nothing pending leave
// the group.
import type { Event } from "@agg/schema"
import { gateCommits } from "@agg/testing/Gates"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Consumer from "../src/Consumer.ts"
import { EventLog, EventLogError } from "../src/EventLog.ts"
import { EventStore } from "../src/EventStore.ts"
import * as MemoryEventLog from "../src/memory/MemoryEventLog.ts"
import * as MemoryEventStore from "../src/memory/MemoryEventStore.ts"
import * as Stats from "../src/Stats.ts"

const events = (n: number, prefix = "e"): Array<Event> =>
  Array.from({ length: n }, (_, i) => ({
    topic: "t",
    event_id: `${prefix}${i}`,
    timestamp: "2026-11-21T10:00:00.000Z",
    source: "s",
    payload: {}
  }))

const live = {
  block: "1 second",
  heartbeatTtl: "3 seconds",
  reclaimIdle: "3 seconds",
  reclaimInterval: "1 second"
} as const

const setup = (logOptions: MemoryEventLog.Options = {}) =>
  Effect.gen(function* () {
    const memLog = yield* MemoryEventLog.make(logOptions)
    const store = yield* MemoryEventStore.make()
    const layer = Layer.mergeAll(Layer.succeed(EventLog, memLog.log), Layer.succeed(EventStore, store))
    const stats = Effect.map(Effect.all([store.stats, memLog.log.stats]), ([s, l]) => Stats.fromQueued(s, l))
    const pendingOf = (name: string) => Effect.map(memLog.consumers, (c) => c.get(name) ?? 0)
    return { memLog, log: memLog.log, store, layer, stats, pendingOf }
  })

/** Step the clock in 100 ms ticks until `done`, failing past `limitMs`; returns the elapsed time. */
const stepUntil = <E>(done: Effect.Effect<boolean, E>, limitMs: number) =>
  Effect.gen(function* () {
    let elapsed = 0
    while (!(yield* done)) {
      if (elapsed >= limitMs) return yield* Effect.die(`not done after ${limitMs} ms`)
      yield* TestClock.adjust("100 millis")
      elapsed += 100
    }
    return elapsed
  })

describe("Consumer liveness", () => {
  it.effect("a consumer killed with entries in hand: they are reclaimed once its heartbeat expired", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append(events(4))
      // "w1" beat once, read, and was killed: no more beats, no ack.
      yield* s.log.heartbeat("w1", Duration.seconds(3))
      assert.strictEqual((yield* s.log.read("w1", { count: 10, block: Duration.zero })).length, 4)
      // w2 without start-up grace, as if it had been running for long (the grace has its own test below).
      const w2 = yield* Effect.forkChild(
        Consumer.run({ ...live, consumer: "w2", reclaimGrace: 0 }).pipe(Effect.provide(s.layer))
      )
      yield* TestClock.adjust("2900 millis")
      assert.strictEqual(yield* s.pendingOf("w1"), 4, "still alive: its mark lasts 3 s")
      const elapsed = yield* stepUntil(
        Effect.map(s.stats, (st) => st.pending === 0),
        5_000
      )
      assert.isAtMost(2900 + elapsed, 3_000 + 1_000 + 100, "taken over within ttl + one reclaim interval")
      const st = yield* s.stats
      assert.deepStrictEqual([st.unique_processed, st.pending], [4, 0])
      assert.deepStrictEqual(Stats.violations(st), [])
      assert.isFalse((yield* s.memLog.consumers).has("w1"), "the dead consumer left the group once empty")
      yield* Fiber.interrupt(w2)
    })
  )

  it.effect("a live but slow consumer keeps its entries, however long its commit takes", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      // w1's store hangs in its commit until the gate opens (a slow transaction); w2's is the plain store.
      const { store: slow, started, open } = yield* gateCommits(s.store)
      yield* s.log.append(events(3))
      const w1 = yield* Effect.forkChild(
        Consumer.run({ ...live, consumer: "w1" }).pipe(
          Effect.provide(Layer.mergeAll(Layer.succeed(EventLog, s.log), Layer.succeed(EventStore, slow)))
        )
      )
      yield* started
      const w2 = yield* Effect.forkChild(Consumer.run({ ...live, consumer: "w2" }).pipe(Effect.provide(s.layer)))
      for (let i = 0; i < 120; i++) yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* s.pendingOf("w1"), 3, "two minutes later the entries are still w1's")
      assert.strictEqual((yield* s.store.stats).unique, 0)
      yield* open
      yield* stepUntil(
        Effect.map(s.stats, (st) => st.pending === 0),
        5_000
      )
      const st = yield* s.stats
      assert.deepStrictEqual([st.unique_processed, st.duplicate_dropped, st.pending], [3, 0, 0])
      yield* Fiber.interrupt(w1)
      yield* Fiber.interrupt(w2)
    })
  )

  it.effect("after the log was unreachable, nothing is reclaimed during the grace; delivery counts stay put", () =>
    Effect.gen(function* () {
      let down = false
      const s = yield* setup({
        fault: (operation) =>
          down
            ? Effect.fail(new EventLogError({ operation, retryable: true, message: "connection lost" }))
            : Effect.void
      })
      yield* s.log.append(events(2))
      // "w1" read without any heartbeat: as soon as the grace allows, its entries are reclaimable.
      yield* s.log.read("w1", { count: 10, block: Duration.zero })
      const w2 = yield* Effect.forkChild(
        Consumer.run({ ...live, consumer: "w2", reclaimGrace: "6 seconds" }).pipe(Effect.provide(s.layer))
      )
      yield* TestClock.adjust("500 millis")
      down = true // the broker restarts: 20 s away
      for (let i = 0; i < 20; i++) yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* s.pendingOf("w1"), 2, "nothing moves while the log is down")
      down = false
      // The next heartbeat (within ttl / 3) starts the grace; the reclaim pass waits 6 s after it.
      for (let i = 0; i < 6; i++) yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* s.pendingOf("w1"), 2, "not during the grace")
      yield* stepUntil(
        Effect.map(s.stats, (st) => st.pending === 0),
        3_000
      )
      const st = yield* s.stats
      assert.deepStrictEqual([st.unique_processed, st.pending, st.dead_lettered], [2, 0, 0])
      yield* Fiber.interrupt(w2)
    })
  )

  it.effect("heartbeat marks in the memory log: alive until the ttl passes, never robbed meanwhile", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append(events(2))
      yield* s.log.heartbeat("w1", Duration.seconds(3))
      yield* s.log.read("w1", { count: 10, block: Duration.zero })
      yield* TestClock.adjust("2 seconds")
      yield* s.log.heartbeat("w1", Duration.seconds(3)) // refreshed: alive until t = 5 s
      yield* TestClock.adjust("2500 millis")
      assert.deepStrictEqual(yield* s.log.reclaim("w2", { minIdle: Duration.zero, count: 10 }), [])
      yield* TestClock.adjust("500 millis")
      const taken = yield* s.log.reclaim("w2", { minIdle: Duration.zero, count: 10 })
      assert.deepStrictEqual(
        taken.map((e) => e.deliveries),
        [2, 2]
      )
      assert.deepStrictEqual([...(yield* s.memLog.consumers)], [["w2", 2]], "w1, dead and empty, left the group")
    })
  )
  it.effect("a read whose reply was lost: the live consumer takes its own entries back after lostAfter", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append(events(3))
      // The broker served w1's read, but the answer never arrived (the connection dropped): pending, not in hand.
      yield* s.log.heartbeat("w1", Duration.seconds(3))
      yield* s.log.read("w1", { count: 10, block: Duration.zero })
      const w1 = yield* Effect.forkChild(
        Consumer.run({ ...live, consumer: "w1", reclaimGrace: 0, lostAfter: "30 seconds" }).pipe(
          Effect.provide(s.layer)
        )
      )
      for (let i = 0; i < 25; i++) yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* s.store.stats).unique, 0, "not before lostAfter")
      yield* stepUntil(
        Effect.map(s.stats, (st) => st.pending === 0),
        10_000
      )
      const st = yield* s.stats
      assert.deepStrictEqual([st.unique_processed, st.duplicate_dropped, st.pending], [3, 0, 0])
      yield* Fiber.interrupt(w1)
    })
  )

  it.effect("a stopped consumer gives up its mark at once, not a ttl later", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      const aliveOf = (name: string) =>
        Effect.map(s.log.consumers, (list) => list.find((c) => c.name === name)?.alive ?? false)
      const w1 = yield* Effect.forkChild(
        Consumer.run({ ...live, heartbeatTtl: "1 minute", consumer: "w1" }).pipe(Effect.provide(s.layer))
      )
      yield* stepUntil(aliveOf("w1"), 5_000)
      yield* Fiber.interrupt(w1)
      yield* TestClock.adjust("2 millis")
      assert.isFalse(yield* aliveOf("w1"), "dead 2 ms after the stop, with 59 s of its last mark left")
    })
  )
})
