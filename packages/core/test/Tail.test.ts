/**
 * The tail's fan-out over the in-memory store: backlog then live, exactly once while commits race the joining,
 * one reader per topic shared by its subscribers, the slow subscriber dropped with a reason, readers stopped with
 * their last subscriber, and the store decorator that notifies after each commit.
 */
import type { Event, StoredEvent } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as CommitSignal from "../src/CommitSignal.ts"
import { EventStore } from "../src/EventStore.ts"
import * as MemoryEventStore from "../src/memory/MemoryEventStore.ts"
import * as Tail from "../src/Tail.ts"

const ev = (topic: string, id: number): Event => ({
  topic,
  event_id: `e-${id}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload: { id }
})

// The embedded wiring: commits through the notifying store wake the tail in the same process. A long poll
// interval, so every live delivery below comes from a wake-up.
const live = (options: Tail.Options = {}) => {
  const tail = Tail.layer({ pollInterval: "1 hour", ...options }).pipe(Layer.provideMerge(MemoryEventStore.layer))
  return CommitSignal.notifying.pipe(Layer.provide(Tail.localSignal), Layer.provideMerge(tail))
}

const commitN = (topic: string, from: number, n: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    return yield* store.commit(Array.from({ length: n }, (_, i) => ({ event: ev(topic, from + i) })))
  })

/** Take until `n` events are in hand. */
const takeN = (sub: Tail.Subscription, n: number) =>
  Effect.gen(function* () {
    const got: Array<StoredEvent> = []
    while (got.length < n) got.push(...(yield* sub.take))
    return got
  })

describe("Tail", () => {
  it.effect("backlog after the cursor, then live events; exactly once while commits race the joining", () =>
    Effect.gen(function* () {
      yield* commitN("a", 0, 30)
      const tail = yield* Tail.Tail
      const sub = yield* tail.subscribe({ topic: "a", after: 5 })
      // Commits keep landing while the subscriber reads its backlog (pages of 7) and joins the reader.
      const writer = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 10 }), (_, i) => commitN("a", 100 + i * 3, 3), { discard: true })
      )
      const got = yield* takeN(sub, 55)
      yield* Fiber.join(writer)
      assert.deepStrictEqual(
        got.map((e) => e.offset),
        Array.from({ length: 55 }, (_, i) => i + 6)
      )
      assert.deepStrictEqual(yield* tail.stats, { readers: 1, subscribers: 1 })
    }).pipe(Effect.scoped, Effect.provide(live({ pageSize: 7 })))
  )

  it.effect("all topics: strictly rising positions; one reader per topic shared by its subscribers", () =>
    Effect.gen(function* () {
      const tail = yield* Tail.Tail
      const all = yield* tail.subscribe({ after: 0 })
      const a1 = yield* tail.subscribe({ topic: "a", after: 0 })
      const a2 = yield* tail.subscribe({ topic: "a", after: 0 })
      const b = yield* tail.subscribe({ topic: "b", after: 0 })
      // The first take of each reads its (empty) backlog and joins.
      const takes = yield* Effect.forkChild(
        Effect.all([takeN(all, 20), takeN(a1, 10), takeN(a2, 10), takeN(b, 10)], { concurrency: "unbounded" })
      )
      for (let i = 0; i < 10; i++) yield* Effect.andThen(commitN("a", i, 1), commitN("b", i, 1))
      const [allEvents, e1, e2, eb] = yield* Fiber.join(takes)
      const positions = allEvents.map((e) => e.position ?? 0)
      assert.isTrue(positions.every((p, i) => i === 0 || p > positions[i - 1]!))
      assert.strictEqual(new Set(allEvents.map((e) => `${e.topic}/${e.offset}`)).size, 20)
      for (const got of [e1, e2, eb]) {
        assert.deepStrictEqual(
          got.map((e) => e.offset),
          Array.from({ length: 10 }, (_, i) => i + 1)
        )
      }
      assert.deepStrictEqual(yield* tail.stats, { readers: 3, subscribers: 4 })
    }).pipe(Effect.scoped, Effect.provide(live()))
  )

  it.effect("a subscriber that lets its buffer fill is dropped with TailOverflow; the others go on", () =>
    Effect.gen(function* () {
      const tail = yield* Tail.Tail
      const slow = yield* tail.subscribe({ topic: "a", after: 0 })
      const fast = yield* tail.subscribe({ topic: "a", after: 0 })
      // Both join (empty backlog) from a first take that waits for the first event.
      const first = yield* Effect.forkChild(Effect.all([slow.take, fast.take], { concurrency: "unbounded" }))
      yield* commitN("a", 0, 1)
      yield* Fiber.join(first)
      // One event at a time, each taken by the fast subscriber before the next; the slow one takes none.
      const fastGot: Array<number> = []
      for (let i = 1; i <= 10; i++) {
        yield* commitN("a", i, 1)
        fastGot.push(...(yield* fast.take).map((e) => e.offset))
      }
      assert.deepStrictEqual(
        fastGot,
        Array.from({ length: 10 }, (_, i) => i + 2)
      )
      assert.strictEqual((yield* slow.dropped).after, 5)
      // The slow one drains what it holds (4 events), then learns why it was dropped and where to resume.
      assert.deepStrictEqual(
        (yield* slow.take).map((e) => e.offset),
        [2, 3, 4, 5]
      )
      const end = yield* Effect.exit(slow.take)
      assert.isTrue(Exit.isFailure(end))
      assert.deepStrictEqual(
        Exit.isFailure(end)
          ? end.cause.reasons.map((r) =>
              r._tag === "Fail" && r.error._tag === "TailOverflow"
                ? { capacity: r.error.capacity, after: r.error.after }
                : r._tag
            )
          : [],
        [{ capacity: 4, after: 5 }]
      )
      assert.deepStrictEqual(yield* tail.stats, { readers: 1, subscribers: 1 })
    }).pipe(Effect.scoped, Effect.provide(live({ capacity: 4, pageSize: 4 })))
  )

  it.effect("a reader stops with its last subscriber", () =>
    Effect.gen(function* () {
      const tail = yield* Tail.Tail
      const scope = yield* Scope.make()
      const sub = yield* tail.subscribe({ topic: "a", after: 0 }).pipe(Scope.provide(scope))
      const taking = yield* Effect.forkChild(sub.take)
      yield* commitN("a", 0, 1)
      assert.strictEqual((yield* Fiber.join(taking)).length, 1)
      assert.deepStrictEqual(yield* tail.stats, { readers: 1, subscribers: 1 })
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* tail.stats, { readers: 0, subscribers: 0 })
    }).pipe(Effect.scoped, Effect.provide(live()))
  )
})
