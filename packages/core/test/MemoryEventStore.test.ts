// Relative import: @agg/testing depends on @agg/core, so a devDependency back would make a workspace cycle.
import { eventStoreSuite, makeEvent } from "@agg/testing/EventStoreSuite"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { EventStore, EventStoreError } from "../src/EventStore.ts"
import * as MemoryEventStore from "../src/memory/MemoryEventStore.ts"

eventStoreSuite("memory", MemoryEventStore.layer)

describe("MemoryEventStore", () => {
  it.effect("a fault fails the commit and nothing is stored", () =>
    Effect.gen(function* () {
      let fail = true
      const store = yield* MemoryEventStore.make({
        fault: (operation) =>
          fail && operation === "commit"
            ? Effect.fail(new EventStoreError({ operation, retryable: true, message: "injected" }))
            : Effect.void
      })
      const error = yield* Effect.flip(store.commit([{ event: makeEvent("t", "a") }]))
      assert.strictEqual(error.message, "injected")
      assert.deepStrictEqual(yield* store.stats, { unique: 0, duplicates: 0, conflicts: 0, topics: [] })
      fail = false
      const out = yield* store.commit([{ event: makeEvent("t", "a") }])
      assert.deepStrictEqual(out, [{ _tag: "New", offset: 1 }])
    })
  )

  it.effect("rejects a bad read query with a non-retryable error naming the field", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const e1 = yield* Effect.flip(store.read({ after: -1, limit: 10 }))
      assert.isFalse(e1.retryable)
      assert.match(e1.message, /after/)
      const e2 = yield* Effect.flip(store.read({ topic: "t", after: 0, limit: 0 }))
      assert.match(e2.message, /limit/)
    }).pipe(Effect.provide(MemoryEventStore.layer))
  )
})
