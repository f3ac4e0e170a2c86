import { assert, describe, it } from "@effect/vitest"
import { fromDirect, fromQueued, imbalance, sumTopics, violations } from "../src/Stats.ts"

const store = sumTopics([
  { topic: "a", unique: 5, duplicates: 2, conflicts: 1 },
  { topic: "b", unique: 3, duplicates: 0, conflicts: 0 }
])

describe("Stats", () => {
  it("queued: received and pending come from the log; per-topic figures from the store", () => {
    const s = fromQueued(store, { received: 14, lag: 3, pending: 1, deadLettered: 0, discarded: 0 })
    assert.deepStrictEqual(s, {
      received: 14,
      unique_processed: 8,
      duplicate_dropped: 2,
      conflicts: 1,
      pending: 4,
      dead_lettered: 0,
      discarded: 0,
      topics: ["a", "b"],
      per_topic: {
        a: { unique_processed: 5, duplicate_dropped: 2, conflicts: 1 },
        b: { unique_processed: 3, duplicate_dropped: 0, conflicts: 0 }
      }
    })
    assert.deepStrictEqual(violations(s), [])
  })

  it("queued: discarded entries close the identity", () => {
    const s = fromQueued(store, { received: 14, lag: 0, pending: 1, deadLettered: 2, discarded: 1 })
    assert.strictEqual(s.discarded, 1)
    assert.deepStrictEqual(violations(s), [])
    assert.strictEqual(imbalance({ ...s, discarded: 0 }), 1)
  })

  it("direct: received = unique + duplicates, nothing pending", () => {
    const s = fromDirect(store)
    assert.strictEqual(s.received, 10)
    assert.strictEqual(s.pending, 0)
    assert.strictEqual(imbalance(s), 0)
  })

  it("dead-lettered entries balance the invariant", () => {
    const s = fromQueued(store, { received: 12, lag: 0, pending: 0, deadLettered: 2, discarded: 0 })
    assert.deepStrictEqual(violations(s), [])
  })

  it("reports a lost event and a double count", () => {
    const lost = fromQueued(store, { received: 11, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
    assert.strictEqual(imbalance(lost), 1)
    assert.match(violations(lost)[0]!, /received \(11\) != unique_processed \(8\)/)
    const doubled = fromQueued(store, { received: 9, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
    assert.strictEqual(imbalance(doubled), -1)
  })

  it("reports per-topic figures that do not sum up", () => {
    const s = { ...fromDirect(store), unique_processed: 9, received: 11 }
    assert.include(violations(s), "per-topic unique_processed does not sum up")
  })
})
