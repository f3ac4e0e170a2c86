import { eventStoreSuite } from "@agg/testing/EventStoreSuite"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { Consumer, EventLog } from "../src/index.ts"
import { MemoryEventLog } from "../src/memory.ts"
import { makeInventoryStore } from "./utils/InventoryStore.ts"

// The README's own store passes the port's contract suite.
eventStoreSuite("README inventory store", makeInventoryStore().layer)

describe("README example", () => {
  it.effect("another service consumes with its own EventStore: each stock event applies once", () =>
    Effect.gen(function* () {
      const inventory = makeInventoryStore()
      const stockEvent = (id: string, sku: string, delta: number) => ({
        topic: "stock",
        event_id: id,
        timestamp: "2026-11-21T10:00:00.000Z",
        source: "warehouse",
        payload: { sku, delta }
      })
      yield* Effect.gen(function* () {
        const log = yield* EventLog.EventLog
        // at-least-once publishers: "s1" arrives three times
        yield* log.append([stockEvent("s1", "apple", 5), stockEvent("s2", "pear", 2), stockEvent("s1", "apple", 5)])
        yield* log.append([stockEvent("s1", "apple", 5), stockEvent("s3", "apple", -1)])
        const consumer = yield* Consumer.make({ consumer: "inventory-1", block: Duration.zero })
        assert.strictEqual(yield* consumer.poll, 5)
      }).pipe(Effect.provide(Layer.merge(MemoryEventLog.layer, inventory.layer)))
      assert.deepStrictEqual(Object.fromEntries(inventory.stock), { apple: 4, pear: 2 })
    })
  )
})
