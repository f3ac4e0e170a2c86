import type { Event } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import { type Delivery, EventStoreError, type Outcome } from "../src/EventStore.ts"
import * as GroupCommit from "../src/GroupCommit.ts"

const ev = (id: string): Event => ({
  topic: "t",
  event_id: id,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload: {}
})
const batchOf = (caller: number, n: number): Array<Delivery> =>
  Array.from({ length: n }, (_, i) => ({ event: ev(`${caller}-${i}`) }))

/** A fake commit that echoes each event id back (as a "New" with a running offset) and records group sizes. */
const recorder = () => {
  const sizes: Array<number> = []
  const committed = new Set<string>()
  let offset = 0
  const commit = (batch: ReadonlyArray<Delivery>) =>
    Effect.sync(() => {
      sizes.push(batch.length)
      for (const d of batch) committed.add(d.event.event_id)
      return batch.map((): Outcome => ({ _tag: "New", offset: ++offset }))
    })
  return { sizes, committed, commit }
}

describe("GroupCommit", () => {
  it.effect("keeps committing after the fiber that made it has ended (its flushers live in its scope)", () =>
    Effect.gen(function* () {
      const r = recorder()
      const scope = yield* Scope.make()
      // As when a layer is built on a short-lived fiber: the maker finishes, the scope stays open.
      const maker = yield* Effect.forkChild(GroupCommit.make(r.commit, { maxEvents: 10 }).pipe(Scope.provide(scope)))
      const group = yield* Fiber.join(maker)
      const outcomes = yield* group.submit(batchOf(0, 3))
      assert.deepStrictEqual(
        outcomes.map((o) => o._tag),
        ["New", "New", "New"]
      )
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("concurrent callers share transactions; each gets its own outcomes after its commit", () =>
    Effect.gen(function* () {
      const r = recorder()
      const group = yield* GroupCommit.make(r.commit, { maxEvents: 50, concurrency: 1 })
      const results = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, c) => c),
        (c) =>
          group.submit(batchOf(c, 3)).pipe(
            Effect.map((outcomes) => {
              // answered only after commit: every event of this caller is committed by now
              for (let i = 0; i < 3; i++) assert.isTrue(r.committed.has(`${c}-${i}`))
              return outcomes
            })
          ),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.length, 40)
      for (const outcomes of results) assert.strictEqual(outcomes.length, 3)
      const offsets = results.flat().map((o) => (o._tag === "New" ? o.offset : 0))
      assert.strictEqual(new Set(offsets).size, 120)
      assert.isBelow(r.sizes.length, 40, "fewer transactions than callers")
      for (const size of r.sizes) assert.isAtMost(size, 50)
      assert.deepStrictEqual(yield* group.stats, { waiting: 0, commits: r.sizes.length, events: 120 })
    })
  )

  it.effect("a caller batch larger than maxEvents commits alone, unsplit", () =>
    Effect.gen(function* () {
      const r = recorder()
      const group = yield* GroupCommit.make(r.commit, { maxEvents: 5, concurrency: 1 })
      const out = yield* Effect.all(
        [group.submit(batchOf(1, 2)), group.submit(batchOf(2, 12)), group.submit(batchOf(3, 2))],
        {
          concurrency: "unbounded"
        }
      )
      assert.deepStrictEqual(
        out.map((o) => o.length),
        [2, 12, 2]
      )
      assert.include(r.sizes, 12)
      assert.strictEqual(
        r.sizes.reduce((a, b) => a + b, 0),
        16
      )
    })
  )

  it.effect("fails fast with GroupCommitOverloaded beyond capacity; accepted callers still complete", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const r = recorder()
      const group = yield* GroupCommit.make((b) => Deferred.await(gate).pipe(Effect.andThen(r.commit(b))), {
        maxEvents: 10,
        capacity: 10,
        concurrency: 1
      })
      const accepted = yield* Effect.forEach([1, 2], (c) => Effect.forkChild(group.submit(batchOf(c, 5))))
      while ((yield* group.stats).waiting < 10) yield* Effect.yieldNow
      const refused = yield* Effect.flip(group.submit(batchOf(3, 1)))
      assert.strictEqual(refused._tag, "GroupCommitOverloaded")
      assert.deepStrictEqual(refused, new GroupCommit.GroupCommitOverloaded({ waiting: 10, capacity: 10 }))
      yield* Deferred.succeed(gate, undefined)
      for (const f of accepted) assert.strictEqual((yield* Fiber.join(f)).length, 5)
      assert.strictEqual((yield* group.submit(batchOf(4, 1))).length, 1)
    })
  )

  it.effect("a failed transaction fails every caller in it with the store error", () =>
    Effect.gen(function* () {
      const error = new EventStoreError({ operation: "commit", retryable: true, message: "connection lost" })
      const group = yield* GroupCommit.make(() => Effect.fail(error), { concurrency: 1 })
      const exits = yield* Effect.forEach([1, 2, 3], (c) => Effect.exit(group.submit(batchOf(c, 2))), {
        concurrency: "unbounded"
      })
      for (const exit of exits) assert.deepStrictEqual(exit, Exit.fail(error))
    })
  )

  it.effect("linger waits on the Clock for more callers when the group is not full", () =>
    Effect.gen(function* () {
      const r = recorder()
      const group = yield* GroupCommit.make(r.commit, { maxEvents: 100, linger: "100 millis", concurrency: 1 })
      const a = yield* Effect.forkChild(group.submit(batchOf(1, 1)))
      yield* TestClock.adjust("50 millis")
      const b = yield* Effect.forkChild(group.submit(batchOf(2, 1)))
      yield* TestClock.adjust("40 millis")
      assert.deepStrictEqual(r.sizes, [])
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      assert.deepStrictEqual(r.sizes, [2])
    })
  )

  it.effect("closing commits what was accepted, then refuses with GroupCommitClosed", () =>
    Effect.gen(function* () {
      const r = recorder()
      const scope = yield* Scope.make()
      const gate = yield* Deferred.make<void>()
      const group = yield* GroupCommit.make((b) => Deferred.await(gate).pipe(Effect.andThen(r.commit(b))), {
        concurrency: 1
      }).pipe(Scope.provide(scope))
      const callers = yield* Effect.forEach([1, 2, 3], (c) => Effect.forkChild(group.submit(batchOf(c, 2))))
      while ((yield* group.stats).waiting < 6) yield* Effect.yieldNow
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Effect.yieldNow
      assert.strictEqual((yield* Effect.flip(group.submit(batchOf(4, 1))))._tag, "GroupCommitClosed")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(closing)
      for (const f of callers) assert.strictEqual((yield* Fiber.join(f)).length, 2)
      assert.strictEqual(r.committed.size, 6)
    })
  )

  it.effect("an empty batch needs no transaction", () =>
    Effect.gen(function* () {
      const r = recorder()
      const group = yield* GroupCommit.make(r.commit)
      assert.deepStrictEqual(yield* group.submit([]), [])
      assert.deepStrictEqual(r.sizes, [])
    })
  )

  it.effect("rejects bad options", () =>
    Effect.gen(function* () {
      const r = recorder()
      const e = yield* Effect.flip(GroupCommit.make(r.commit, { maxEvents: 0 }))
      assert.match(e.message, /maxEvents must be a positive integer/)
      const e2 = yield* Effect.flip(GroupCommit.make(r.commit, { concurrency: 1.5 }))
      assert.match(e2.message, /concurrency/)
    })
  )
})
