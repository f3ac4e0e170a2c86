import type { Event } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { contentHash } from "../src/ContentHash.ts"
import { classify, keyOf, type Stored } from "../src/Dedup.ts"

const ev = (topic: string, id: string, payload: Record<string, unknown> = {}): Event => ({
  topic,
  event_id: id,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload
})
const nothing: Stored = { hashOf: () => undefined, isCommitted: () => false }
const verdicts = (batch: Parameters<typeof classify>[0], stored: Stored = nothing) =>
  classify(batch, stored).map((c) => c.verdict)

describe("Dedup.classify", () => {
  it("first occurrence is new, later equal ones duplicates, different ones conflicts", () => {
    assert.deepStrictEqual(
      verdicts([
        { event: ev("t", "a", { v: 1 }) },
        { event: ev("t", "a", { v: 1 }) },
        { event: ev("t", "a", { v: 2 }) },
        { event: ev("u", "a", { v: 2 }) }
      ]),
      ["New", "Duplicate", "Conflict", "New"]
    )
  })

  it("compares later occurrences with the first version, not the previous one", () => {
    assert.deepStrictEqual(
      verdicts([
        { event: ev("t", "a", { v: 1 }) },
        { event: ev("t", "a", { v: 2 }) },
        { event: ev("t", "a", { v: 2 }) }
      ]),
      ["New", "Conflict", "Conflict"]
    )
  })

  it("looks up stored hashes by key", () => {
    const stored: Stored = {
      hashOf: (key) => (key === keyOf({ topic: "t", event_id: "a" }) ? contentHash(ev("t", "a", { v: 1 })) : undefined),
      isCommitted: () => false
    }
    assert.deepStrictEqual(
      verdicts([{ event: ev("t", "a", { v: 1 }) }, { event: ev("t", "b") }, { event: ev("t", "a", { v: 3 }) }], stored),
      ["Duplicate", "New", "Conflict"]
    )
  })

  it("recognises committed delivery ids and repeated ids within the batch", () => {
    const stored: Stored = { hashOf: () => undefined, isCommitted: (key) => key === "s 1-0" }
    assert.deepStrictEqual(
      verdicts(
        [
          { deliveryId: { stream: "s", id: "1-0" }, event: ev("t", "a") },
          { deliveryId: { stream: "s", id: "2-0" }, event: ev("t", "a") },
          { deliveryId: { stream: "s", id: "2-0" }, event: ev("t", "a") }
        ],
        stored
      ),
      ["Redelivered", "New", "Redelivered"]
    )
  })

  it("keys cannot collide across topic/id boundaries", () => {
    assert.notStrictEqual(keyOf({ topic: "a", event_id: "bc" }), keyOf({ topic: "ab", event_id: "c" }))
  })
})
