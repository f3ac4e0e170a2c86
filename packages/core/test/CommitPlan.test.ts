import type { Event } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { plan, topicsOf } from "../src/CommitPlan.ts"
import { contentHash } from "../src/ContentHash.ts"
import { keyOf } from "../src/Dedup.ts"
import { refKey } from "../src/EventLog.ts"

const ev = (topic: string, id: string, v = 1): Event => ({
  topic,
  event_id: id,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload: { v }
})

const ref = (id: string) => ({ stream: "s", id })

describe("CommitPlan.plan", () => {
  it("assigns offsets only to new events, after dedup, and sums per-topic changes", () => {
    const storedKey = keyOf(ev("b", "x"))
    const p = plan(
      [
        { deliveryId: ref("1"), event: ev("b", "x") }, // stored, same content
        { deliveryId: ref("2"), event: ev("a", "1") },
        { deliveryId: ref("3"), event: ev("a", "1", 2) }, // conflict in batch
        { deliveryId: ref("4"), event: ev("b", "y") },
        { deliveryId: ref("9"), event: ev("a", "2") } // committed before
      ],
      {
        hashOf: (k) => (k === storedKey ? contentHash(ev("b", "x")) : undefined),
        isCommitted: (key) => key === refKey(ref("9"))
      },
      (t) => (t === "b" ? 10 : 0)
    )
    assert.deepStrictEqual(p.outcomes, [
      { _tag: "Duplicate" },
      { _tag: "New", offset: 1 },
      { _tag: "Conflict" },
      { _tag: "New", offset: 11 },
      { _tag: "Redelivered" }
    ])
    assert.deepStrictEqual(
      p.inserts.map((r) => [r.delivery.deliveryId?.id, r.offset]),
      [
        ["2", 1],
        ["4", 11]
      ]
    )
    assert.deepStrictEqual(p.topics, [
      { topic: "a", unique: 1, addUnique: 1, addDuplicates: 1, addConflicts: 1 },
      { topic: "b", unique: 11, addUnique: 1, addDuplicates: 1, addConflicts: 0 }
    ])
    assert.deepStrictEqual(p.deliveryIds, [ref("1"), ref("2"), ref("3"), ref("4")])
  })

  it("topicsOf gives the distinct topics sorted (the lock order)", () => {
    assert.deepStrictEqual(topicsOf([{ event: ev("b", "1") }, { event: ev("a", "1") }, { event: ev("b", "2") }]), [
      "a",
      "b"
    ])
  })
})
