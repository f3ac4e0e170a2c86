import type { Event } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { EventLog, EventLogError } from "../src/EventLog.ts"
import { EventStore } from "../src/EventStore.ts"
import * as Ingest from "../src/Ingest.ts"
import * as MemoryEventLog from "../src/memory/MemoryEventLog.ts"
import * as MemoryEventStore from "../src/memory/MemoryEventStore.ts"
import * as Stats from "../src/Stats.ts"

const ev = (id: string, v = 1): Event => ({
  topic: "orders",
  event_id: id,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload: { v }
})

describe("Ingest", () => {
  it.effect("direct: answers after commit with unique and duplicate counts; stats balance", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest.Ingest
      assert.strictEqual(ingest.mode, "direct")
      assert.deepStrictEqual(yield* ingest.publish([ev("a"), ev("b"), ev("a")]), {
        accepted: 3,
        unique: 2,
        duplicates: 1
      })
      assert.deepStrictEqual(yield* ingest.publish([ev("a", 2), ev("c")]), { accepted: 2, unique: 1, duplicates: 1 })
      const stats = Stats.fromDirect(yield* (yield* EventStore).stats)
      assert.strictEqual(stats.received, 5)
      assert.strictEqual(stats.conflicts, 1)
      assert.deepStrictEqual(Stats.violations(stats), [])
    }).pipe(Effect.provide(Ingest.layerDirect().pipe(Layer.provideMerge(MemoryEventStore.layer))))
  )

  it.effect("direct: overload becomes a retryable IngestError(Overloaded)", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const store = yield* MemoryEventStore.make({ fault: () => Deferred.await(gate) })
      const layer = Ingest.layerDirect({ maxEvents: 2, capacity: 4, concurrency: 1 }).pipe(
        Layer.provide(Layer.succeed(EventStore, store))
      )
      yield* Effect.gen(function* () {
        const ingest = yield* Ingest.Ingest
        const first = yield* Effect.forkChild(ingest.publish([ev("a"), ev("b")]))
        yield* Effect.yieldNow
        const second = yield* Effect.forkChild(ingest.publish([ev("c"), ev("d")]))
        yield* Effect.yieldNow
        const error = yield* Effect.flip(ingest.publish([ev("e")]))
        assert.strictEqual(error.reason, "Overloaded")
        assert.isTrue(error.retryable)
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual((yield* Fiber.join(first)).accepted, 2)
        assert.strictEqual((yield* Fiber.join(second)).accepted, 2)
      }).pipe(Effect.provide(layer))
    })
  )

  it.effect("queued: appends to the log and counts received", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest.Ingest
      assert.strictEqual(ingest.mode, "queued")
      assert.deepStrictEqual(yield* ingest.publish([ev("a"), ev("a")]), { accepted: 2 })
      assert.deepStrictEqual(yield* (yield* EventLog).stats, {
        received: 2,
        lag: 2,
        pending: 0,
        deadLettered: 0,
        discarded: 0
      })
    }).pipe(Effect.provide(Ingest.layerQueued.pipe(Layer.provideMerge(MemoryEventLog.layer))))
  )

  it.effect("queued: a log failure becomes IngestError(Unavailable) keeping retryable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip((yield* Ingest.Ingest).publish([ev("a")]))
      assert.strictEqual(error.reason, "Unavailable")
      assert.isTrue(error.retryable)
      assert.match(error.message, /append failed: redis down/)
    }).pipe(
      Effect.provide(
        Ingest.layerQueued.pipe(
          Layer.provide(
            MemoryEventLog.layerWith({
              fault: (operation) =>
                Effect.fail(new EventLogError({ operation, retryable: true, message: "redis down" }))
            })
          )
        )
      )
    )
  )
  it.effect("queued: above the backlog's high-water mark publishing is refused as Overloaded, then resumes", () =>
    Effect.gen(function* () {
      const memLog = yield* MemoryEventLog.make()
      let statsCalls = 0
      const log = EventLog.of({
        ...memLog.log,
        stats: Effect.tap(memLog.log.stats, () => Effect.sync(() => statsCalls++))
      })
      yield* Effect.gen(function* () {
        const ingest = yield* Ingest.Ingest
        yield* Effect.yieldNow // the first measurement (empty log)
        assert.deepStrictEqual(yield* ingest.backlog, Option.some({ size: 0, max: 5, refusing: false }))
        // Under the mark: accepted, however many publishes, without a stats call each.
        for (let i = 0; i < 6; i++) yield* ingest.publish([ev(`a${i}`)])
        assert.strictEqual(statsCalls, 1, "publishes do not measure")
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* ingest.backlog, Option.some({ size: 6, max: 5, refusing: true }))
        const refused = yield* Effect.flip(ingest.publish([ev("late")]))
        assert.deepStrictEqual([refused.reason, refused.retryable], ["Overloaded", true])
        assert.match(refused.message, /backlog \(6 entries\) is above its high-water mark \(5\)/)
        assert.strictEqual((yield* log.stats).received, 6, "nothing of a refused request was appended")
        // The workers drain: accepted again after the next measurement.
        const taken = yield* log.read("w", { count: 100, block: Duration.zero })
        yield* log.ack(taken)
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* ingest.publish([ev("late")]), { accepted: 1 })
        assert.isFalse(Option.getOrThrow(yield* ingest.backlog).refusing)
      }).pipe(
        Effect.provide(Ingest.layerQueuedWith({ maxBacklog: 5 }).pipe(Layer.provide(Layer.succeed(EventLog, log))))
      )
    })
  )

  it.effect("queued: while the log cannot give its figures, the size is unknown and appends decide", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest.Ingest
      yield* Effect.yieldNow
      assert.deepStrictEqual(yield* ingest.backlog, Option.some({ size: undefined, max: 1, refusing: false }))
      assert.deepStrictEqual(yield* ingest.publish([ev("a"), ev("b")]), { accepted: 2 })
    }).pipe(
      Effect.provide(
        Ingest.layerQueuedWith({ maxBacklog: 1 }).pipe(
          Layer.provide(
            MemoryEventLog.layerWith({
              fault: (operation) =>
                operation === "stats"
                  ? Effect.fail(new EventLogError({ operation, retryable: true, message: "busy" }))
                  : Effect.void
            })
          )
        )
      )
    )
  )

  it.effect("direct mode has no backlog; bad queued options are refused", () =>
    Effect.gen(function* () {
      assert.isTrue(Option.isNone(yield* (yield* Ingest.Ingest).backlog))
      const bad = yield* Effect.flip(
        Layer.build(Ingest.layerQueuedWith({ maxBacklog: 0 }).pipe(Layer.provide(MemoryEventLog.layer)))
      )
      assert.match(bad.message, /maxBacklog/)
    }).pipe(Effect.scoped, Effect.provide(Ingest.layerDirect().pipe(Layer.provideMerge(MemoryEventStore.layer))))
  )
})
