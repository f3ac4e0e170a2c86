import type { Event } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Consumer from "../src/Consumer.ts"
import { EventLog, EventLogError } from "../src/EventLog.ts"
import { EventStore, EventStoreError } from "../src/EventStore.ts"
import * as MemoryEventLog from "../src/memory/MemoryEventLog.ts"
import * as MemoryEventStore from "../src/memory/MemoryEventStore.ts"
import * as Stats from "../src/Stats.ts"

const ev = (id: string, topic = "t"): Event => ({
  topic,
  event_id: id,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload: {}
})
const events = (n: number) => Array.from({ length: n }, (_, i) => ev(`e${i}`))

type StoreFault = NonNullable<MemoryEventStore.Options["fault"]>

/** A memory log and store (with an optional store fault), both as services, plus the log's test controls. */
const setup = (fault?: StoreFault) =>
  Effect.gen(function* () {
    const memLog = yield* MemoryEventLog.make()
    const store = yield* MemoryEventStore.make(fault ? { fault } : {})
    const layer = Layer.mergeAll(Layer.succeed(EventLog, memLog.log), Layer.succeed(EventStore, store))
    const stats = Effect.gen(function* () {
      return Stats.fromQueued(yield* store.stats, yield* memLog.log.stats)
    })
    return { memLog, log: memLog.log, store, layer, stats }
  })

const consumerOptions = {
  consumer: "c1",
  block: Duration.zero,
  reclaimIdle: "30 seconds",
  isolateAfter: 2,
  maxDeliveries: 3
} as const

describe("Consumer", () => {
  it.effect("poll reads, commits, then acks; stats balance", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append([...events(5), ev("e0")])
      const c = yield* Consumer.make(consumerOptions).pipe(Effect.provide(s.layer))
      assert.strictEqual(yield* c.poll, 6)
      const stats = yield* s.stats
      assert.deepStrictEqual([stats.unique_processed, stats.duplicate_dropped, stats.pending], [5, 1, 0])
      assert.deepStrictEqual(Stats.violations(stats), [])
      const m = yield* c.metrics
      assert.deepStrictEqual([m.batches, m.events, m.unique, m.duplicates], [1, 6, 5, 1])
      assert.strictEqual(yield* c.poll, 0)
    })
  )

  it.effect("retryable store failures: backoff on the Clock, entries stay pending until the commit succeeds", () =>
    Effect.gen(function* () {
      let failures = 3
      const s = yield* setup((operation) =>
        operation === "commit" && failures-- > 0
          ? Effect.fail(new EventStoreError({ operation, retryable: true, message: "connection lost" }))
          : Effect.void
      )
      yield* s.log.append(events(4))
      const c = yield* Consumer.make({ ...consumerOptions, retryBase: "100 millis", retryCap: "1 second" }).pipe(
        Effect.provide(s.layer)
      )
      const fiber = yield* Effect.forkChild(c.poll)
      yield* Effect.yieldNow
      assert.strictEqual((yield* s.log.stats).pending, 4, "not acked while failing")
      assert.strictEqual((yield* s.store.stats).unique, 0)
      // three backoffs: at most 100 + 200 + 400 ms
      yield* TestClock.adjust("700 millis")
      assert.strictEqual(yield* Fiber.join(fiber), 4)
      assert.strictEqual((yield* s.log.stats).pending, 0)
      assert.strictEqual((yield* c.metrics).retries, 3)
      assert.deepStrictEqual(Stats.violations(yield* s.stats), [])
    })
  )

  it.effect("a non-retryable failure is isolated by bisection: the bad entry is dead-lettered, the rest commit", () =>
    Effect.gen(function* () {
      const s = yield* setup((operation, batch) =>
        batch.some((d) => d.event.event_id === "poison")
          ? Effect.fail(new EventStoreError({ operation, retryable: false, message: "value refused" }))
          : Effect.void
      )
      yield* s.log.append([ev("a"), ev("b"), ev("poison"), ev("c"), ev("d")])
      const c = yield* Consumer.make(consumerOptions).pipe(Effect.provide(s.layer))
      assert.strictEqual(yield* c.poll, 5)
      const stats = yield* s.stats
      assert.deepStrictEqual([stats.unique_processed, stats.dead_lettered, stats.pending], [4, 1, 0])
      assert.deepStrictEqual(Stats.violations(stats), [])
      const dead = yield* s.memLog.deadLetters
      assert.deepStrictEqual(
        dead.map((d) => [d.entry._tag === "Event" ? d.entry.event.event_id : null, d.reason]),
        [["poison", "commit failed: value refused"]]
      )
    })
  )

  it.effect("undecodable entries are dead-lettered with their reason", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append([ev("a")])
      yield* s.memLog.appendUndecodable("bad JSON")
      const c = yield* Consumer.make(consumerOptions).pipe(Effect.provide(s.layer))
      assert.strictEqual(yield* c.poll, 2)
      assert.deepStrictEqual(
        (yield* s.memLog.deadLetters).map((d) => d.reason),
        ["undecodable: bad JSON"]
      )
      assert.deepStrictEqual(Stats.violations(yield* s.stats), [])
      assert.strictEqual((yield* c.metrics).deadLettered, 1)
    })
  )

  it.effect("a crash between commit and ack: reclaim after idle commits again without counting twice", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append([...events(3), ev("e1")])
      // c1's store commits, then the process "dies" before the ack
      const crashing = EventStore.of({
        ...s.store,
        commit: (b) => Effect.andThen(s.store.commit(b), Effect.die("kill -9"))
      })
      const c1 = yield* Consumer.make(consumerOptions).pipe(
        Effect.provide(Layer.mergeAll(Layer.succeed(EventLog, s.log), Layer.succeed(EventStore, crashing)))
      )
      const exit = yield* Effect.exit(c1.poll)
      assert.strictEqual(exit._tag, "Failure")
      const mid = yield* s.stats
      assert.deepStrictEqual([mid.unique_processed, mid.duplicate_dropped, mid.pending], [3, 1, 4])
      assert.isBelow(Stats.imbalance(mid), 0, "committed but not acked: not a quiet point")

      const c2 = yield* Consumer.make({ ...consumerOptions, consumer: "c2" }).pipe(Effect.provide(s.layer))
      assert.strictEqual(yield* c2.reclaim, 0, "not idle yet")
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* c2.reclaim, 4)
      const end = yield* s.stats
      assert.deepStrictEqual([end.received, end.unique_processed, end.duplicate_dropped, end.pending], [4, 3, 1, 0])
      assert.deepStrictEqual(Stats.violations(end), [])
      const m = yield* c2.metrics
      assert.deepStrictEqual([m.reclaimed, m.redelivered], [4, 4])
    })
  )

  it.effect(
    "records of delivered entries are forgotten while a crashed batch is redelivered, never counted twice",
    () =>
      Effect.gen(function* () {
        const s = yield* setup()
        const crashing = EventStore.of({
          ...s.store,
          commit: (b) => Effect.andThen(s.store.commit(b), Effect.die("kill -9"))
        })
        // c1 commits e0..e2 and dies before its ack: they stay pending, below everything that follows.
        yield* s.log.append(events(3))
        const c1 = yield* Consumer.make({ ...consumerOptions, batchSize: 3 }).pipe(
          Effect.provide(Layer.mergeAll(Layer.succeed(EventLog, s.log), Layer.succeed(EventStore, crashing)))
        )
        assert.strictEqual((yield* Effect.exit(c1.poll))._tag, "Failure")
        // c2 consumes more entries, and forgets what it may on every pass, with no safety margin.
        yield* s.log.append(events(8).slice(3))
        const c2 = yield* Effect.forkChild(
          Consumer.run({ ...consumerOptions, consumer: "c2", reclaimInterval: "10 seconds", forgetAfter: 0 }).pipe(
            Effect.provide(s.layer)
          )
        )
        while ((yield* s.log.stats).lag > 0) yield* TestClock.adjust("100 millis")
        // The first passes come before c1's entries are idle: the floor is their id, so nothing is forgotten yet.
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(
          (yield* s.log.deliveryFloor).map((f) => f.id),
          ["1-0"]
        )
        assert.strictEqual(
          (yield* s.store.committed([1, 2, 3, 4].map((n) => ({ stream: "memory", id: `${n}-0` })))).size,
          4
        )
        // Once reclaimed (redelivered, recognised) and acked, every record below the new floor goes.
        yield* TestClock.adjust("30 seconds")
        yield* TestClock.adjust("10 seconds")
        const end = yield* s.stats
        assert.deepStrictEqual([end.received, end.unique_processed, end.pending], [8, 8, 0])
        assert.deepStrictEqual(Stats.violations(end), [])
        const refs = Array.from({ length: 8 }, (_, i) => ({ stream: "memory", id: `${i + 1}-0` }))
        assert.strictEqual((yield* s.store.committed(refs)).size, 0, "every record forgotten")
        yield* Fiber.interrupt(c2)
      })
  )

  it.effect("a commit whose outcome is unknown (connection lost during COMMIT) is retried without counting twice", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append([ev("a"), ev("b"), ev("a")])
      let lost = 1
      const ambiguous = EventStore.of({
        ...s.store,
        commit: (b) =>
          Effect.flatMap(s.store.commit(b), (outcomes) =>
            lost-- > 0
              ? Effect.fail(new EventStoreError({ operation: "commit", retryable: true, message: "lost in COMMIT" }))
              : Effect.succeed(outcomes)
          )
      })
      const c = yield* Consumer.make(consumerOptions).pipe(
        Effect.provide(Layer.mergeAll(Layer.succeed(EventLog, s.log), Layer.succeed(EventStore, ambiguous)))
      )
      const fiber = yield* Effect.forkChild(c.poll)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), 3)
      const stats = yield* s.stats
      assert.deepStrictEqual(
        [stats.received, stats.unique_processed, stats.duplicate_dropped, stats.pending, stats.dead_lettered],
        [3, 2, 1, 0, 0]
      )
      const m = yield* c.metrics
      assert.deepStrictEqual([m.retries, m.redelivered, m.unique], [1, 3, 0], "the retry found all three committed")
    })
  )

  it.effect("entries delivered more than maxDeliveries times are dead-lettered unprocessed", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append([ev("a")])
      yield* s.log.read("dead-1", { count: 10, block: Duration.zero }) // delivery 1
      for (const name of ["dead-2", "dead-3"]) {
        yield* TestClock.adjust("30 seconds")
        yield* s.log.reclaim(name, { minIdle: Duration.seconds(30), count: 10 }) // deliveries 2, 3
      }
      yield* TestClock.adjust("30 seconds")
      const c = yield* Consumer.make(consumerOptions).pipe(Effect.provide(s.layer))
      assert.strictEqual(yield* c.reclaim, 1) // delivery 4 > 3
      const dead = yield* s.memLog.deadLetters
      assert.deepStrictEqual(
        dead.map((d) => [d.reason, d.deliveries]),
        [["delivered 4 times (max 3)", 4]]
      )
      assert.strictEqual((yield* s.store.stats).unique, 0)
      assert.deepStrictEqual(Stats.violations(yield* s.stats), [])
    })
  )

  it.effect(
    "an entry committed on every delivery but never acked is acknowledged at the limit, not dead-lettered",
    () =>
      Effect.gen(function* () {
        const s = yield* setup()
        yield* s.log.append([ev("a"), ev("b")])
        // Every consumer commits, then dies before the ack: deliveries 1..maxDeliveries (3).
        const crashing = EventStore.of({
          ...s.store,
          commit: (b) => Effect.andThen(s.store.commit(b), Effect.die("kill"))
        })
        const dying = Layer.mergeAll(Layer.succeed(EventLog, s.log), Layer.succeed(EventStore, crashing))
        for (let delivery = 1; delivery <= 3; delivery++) {
          const c = yield* Consumer.make({ ...consumerOptions, consumer: `dying-${delivery}` }).pipe(
            Effect.provide(dying)
          )
          const exit = yield* Effect.exit(delivery === 1 ? c.poll : c.reclaim)
          assert.strictEqual(exit._tag, "Failure", `delivery ${delivery} dies after its commit`)
          yield* TestClock.adjust("30 seconds")
        }
        const c = yield* Consumer.make(consumerOptions).pipe(Effect.provide(s.layer))
        assert.strictEqual(yield* c.reclaim, 2) // delivery 4 > 3: over the limit, but committed
        assert.deepStrictEqual(yield* s.memLog.deadLetters, [])
        const stats = yield* s.stats
        assert.deepStrictEqual(
          [stats.received, stats.unique_processed, stats.dead_lettered, stats.pending],
          [2, 2, 0, 0],
          "counted once, as processed"
        )
        assert.deepStrictEqual(Stats.violations(stats), [])
        const m = yield* c.metrics
        assert.deepStrictEqual([m.deadLettered, m.redelivered, m.unique], [0, 2, 0])
      })
  )

  it.effect("over the limit: committed entries are acked, the others dead-lettered, in one reclaim", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append([ev("done"), ev("never")])
      yield* s.log.read("dead-1", { count: 10, block: Duration.zero })
      yield* s.store.commit([{ deliveryId: { stream: "memory", id: "1-0" }, event: ev("done") }]) // dead-1 committed "done" only, then died
      for (const name of ["dead-2", "dead-3"]) {
        yield* TestClock.adjust("30 seconds")
        yield* s.log.reclaim(name, { minIdle: Duration.seconds(30), count: 10 })
      }
      yield* TestClock.adjust("30 seconds")
      const c = yield* Consumer.make(consumerOptions).pipe(Effect.provide(s.layer))
      assert.strictEqual(yield* c.reclaim, 2)
      const dead = yield* s.memLog.deadLetters
      assert.deepStrictEqual(
        dead.map((d) => d.entry.id),
        ["2-0"]
      )
      const stats = yield* s.stats
      assert.deepStrictEqual([stats.unique_processed, stats.dead_lettered, stats.pending], [1, 1, 0])
      assert.deepStrictEqual(Stats.violations(stats), [])
    })
  )

  it.effect("over the limit while the store is down: the entry stays pending until the store can tell", () =>
    Effect.gen(function* () {
      let failures = 2
      let permanent = false
      const s = yield* setup((operation) =>
        operation === "committed" && (permanent || failures-- > 0)
          ? Effect.fail(new EventStoreError({ operation, retryable: !permanent, message: "store down" }))
          : Effect.void
      )
      yield* s.log.append([ev("a")])
      yield* s.log.read("dead-1", { count: 10, block: Duration.zero })
      for (const name of ["dead-2", "dead-3"]) {
        yield* TestClock.adjust("30 seconds")
        yield* s.log.reclaim(name, { minIdle: Duration.seconds(30), count: 10 })
      }
      yield* TestClock.adjust("30 seconds")
      const c = yield* Consumer.make({ ...consumerOptions, retryBase: "100 millis", retryCap: "1 second" }).pipe(
        Effect.provide(s.layer)
      )
      // Retryable: backs off while the entry stays pending, then decides.
      const fiber = yield* Effect.forkChild(c.reclaim)
      yield* Effect.yieldNow
      assert.deepStrictEqual([(yield* s.log.stats).pending, (yield* s.log.stats).deadLettered], [1, 0])
      yield* TestClock.adjust("300 millis")
      assert.strictEqual(yield* Fiber.join(fiber), 1)
      assert.strictEqual((yield* c.metrics).retries, 2)
      assert.deepStrictEqual(
        (yield* s.memLog.deadLetters).map((d) => d.reason),
        ["delivered 4 times (max 3)"]
      )

      // Not retryable: the entry is left pending (neither acked nor dead-lettered).
      permanent = true
      yield* s.log.append([ev("b")])
      yield* s.log.read("dead-1", { count: 10, block: Duration.zero })
      for (const name of ["dead-2", "dead-3"]) {
        yield* TestClock.adjust("30 seconds")
        yield* s.log.reclaim(name, { minIdle: Duration.seconds(30), count: 10 })
      }
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* c.reclaim, 1)
      const log = yield* s.log.stats
      assert.deepStrictEqual([log.pending, log.deadLettered], [1, 1])
    })
  )

  it.effect("maintenance runs after every reclaim pass; its failures are logged, consuming goes on", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      let runs = 0
      const maintenance = Effect.suspend(() =>
        ++runs % 2 === 1
          ? Effect.succeed(0)
          : Effect.fail(new EventLogError({ operation: "trimAcknowledged", retryable: false, message: "refused" }))
      )
      const fiber = yield* Effect.forkChild(
        Consumer.run({ ...consumerOptions, block: "1 second", reclaimInterval: "5 seconds", maintenance }).pipe(
          Effect.provide(s.layer)
        )
      )
      yield* TestClock.adjust("5 seconds")
      yield* TestClock.adjust("5 seconds")
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(runs, 3)
      yield* s.log.append(events(2))
      while ((yield* s.log.stats).lag + (yield* s.log.stats).pending > 0) yield* TestClock.adjust("100 millis")
      assert.strictEqual((yield* s.store.stats).unique, 2, "still consuming after a failed maintenance")
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect("entries delivered more than isolateAfter times are committed alone, the others together", () =>
    Effect.gen(function* () {
      const sizes: Array<number> = []
      const s = yield* setup((operation, batch) =>
        Effect.sync(() => {
          if (operation === "commit") sizes.push(batch.length)
        })
      )
      yield* s.log.append(events(2))
      yield* s.log.read("dead-1", { count: 1, block: Duration.zero }) // e0: delivery 1
      yield* TestClock.adjust("30 seconds")
      yield* s.log.reclaim("dead-2", { minIdle: Duration.seconds(30), count: 10 }) // e0: delivery 2
      yield* s.log.read("dead-3", { count: 1, block: Duration.zero }) // e1: delivery 1
      yield* s.log.append(events(4).slice(2))
      yield* s.log.read("dead-4", { count: 2, block: Duration.zero }) // e2, e3: delivery 1
      yield* TestClock.adjust("30 seconds")
      const c = yield* Consumer.make(consumerOptions).pipe(Effect.provide(s.layer))
      assert.strictEqual(yield* c.reclaim, 4) // e0 at delivery 3 (> 2): alone; e1..e3 at delivery 2: together
      assert.deepStrictEqual(sizes, [3, 1])
      const stats = yield* s.stats
      assert.deepStrictEqual([stats.unique_processed, stats.pending, stats.dead_lettered], [4, 0, 0])
    })
  )

  it.effect("run consumes continuously and reclaims on its interval; interruption stops it", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      yield* s.log.append(events(3))
      yield* s.log.read("dead", { count: 1, block: Duration.zero }) // e0 stuck with a dead consumer
      const fiber = yield* Effect.forkChild(
        Consumer.run({ ...consumerOptions, block: "1 second", reclaimInterval: "5 seconds", batchSize: 2 }).pipe(
          Effect.provide(s.layer)
        )
      )
      yield* s.log.append(events(2).map((e) => ({ ...e, event_id: `late-${e.event_id}` })))
      while ((yield* s.log.stats).lag > 0) yield* TestClock.adjust("100 millis")
      assert.strictEqual((yield* s.log.stats).pending, 1, "only the dead consumer's entry")
      yield* TestClock.adjust("30 seconds")
      while ((yield* s.log.stats).pending > 0) yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      const stats = yield* s.stats
      assert.deepStrictEqual([stats.unique_processed, stats.pending], [5, 0])
      assert.deepStrictEqual(Stats.violations(stats), [])
    })
  )

  it.effect("graceful stop: a batch in hand is committed and acknowledged before the consumer ends", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const s = yield* setup((operation) =>
        operation === "commit"
          ? Deferred.succeed(started, undefined).pipe(Effect.andThen(Deferred.await(gate)))
          : Effect.void
      )
      yield* s.log.append(events(3))
      const fiber = yield* Effect.forkChild(Consumer.run(consumerOptions).pipe(Effect.provide(s.layer)))
      yield* Deferred.await(started)
      const stopping = yield* Effect.forkChild(Fiber.interrupt(fiber))
      yield* Effect.yieldNow
      assert.strictEqual((yield* s.log.stats).pending, 3, "stop waits for the batch in hand")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(stopping)
      const stats = yield* s.stats
      assert.deepStrictEqual([stats.unique_processed, stats.pending], [3, 0])
    })
  )

  it.effect("rejects bad options with a message naming the option", () =>
    Effect.gen(function* () {
      const s = yield* setup()
      const run = (o: Consumer.Options) => Effect.flip(Consumer.make(o).pipe(Effect.provide(s.layer)))
      assert.match((yield* run({ consumer: "" })).message, /consumer/)
      assert.match((yield* run({ consumer: "c", batchSize: 0 })).message, /batchSize/)
      assert.match((yield* run({ consumer: "c", maxDeliveries: -1 })).message, /maxDeliveries/)
      assert.match((yield* run({ consumer: "c", isolateAfter: 0 })).message, /isolateAfter/)
      assert.match((yield* run({ consumer: "c", retryBase: "2 seconds", retryCap: "1 second" })).message, /retryCap/)
    })
  )
})
