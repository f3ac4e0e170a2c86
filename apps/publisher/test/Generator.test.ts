import { assert, describe, it } from "@effect/vitest"
import { duplicateCount, type GeneratorOptions, generate, keyOf, mulberry32 } from "../src/Generator.ts"

const base: GeneratorOptions = { events: 1000, topics: 4, duplicateRatio: 0.3, batchSize: 64, seed: 42, runId: "r1" }

describe("Generator", () => {
  it("is deterministic: same options, same batches and truth; another seed, another order", () => {
    const a = generate(base)
    const b = generate(base)
    assert.deepStrictEqual(a.batches, b.batches)
    assert.deepStrictEqual([...a.truth.perTopic], [...b.truth.perTopic])
    const c = generate({ ...base, seed: 43 })
    assert.notStrictEqual(
      a.batches
        .flat()
        .map((e) => e.event_id)
        .join(),
      c.batches
        .flat()
        .map((e) => e.event_id)
        .join()
    )
  })

  it("produces exactly round(events * ratio) duplicates, each an identical resend", () => {
    for (const [events, ratio] of [
      [1000, 0.3],
      [20_000, 0.3],
      [999, 0.5],
      [7, 0],
      [10, 1]
    ] as const) {
      const { batches, truth } = generate({ ...base, events, duplicateRatio: ratio })
      const all = batches.flat()
      assert.strictEqual(all.length, events)
      assert.strictEqual(truth.duplicates, duplicateCount(events, ratio))
      assert.strictEqual(truth.duplicates, Math.min(Math.round(events * ratio), events - 1))
      const byKey = new Map<string, Array<string>>()
      for (const e of all) byKey.set(keyOf(e), [...(byKey.get(keyOf(e)) ?? []), JSON.stringify(e)])
      assert.strictEqual(byKey.size, truth.unique)
      assert.strictEqual(truth.unique + truth.duplicates, events)
      // every copy of a key is byte-identical on the wire
      for (const copies of byKey.values()) assert.strictEqual(new Set(copies).size, 1)
    }
  })

  it("records the truth per topic, names topics after the run, and cuts batches to size", () => {
    const { batches, truth } = generate(base)
    assert.deepStrictEqual([...truth.perTopic.keys()], ["t0-r1", "t1-r1", "t2-r1", "t3-r1"])
    const ids = [...truth.perTopic.values()].flat()
    assert.strictEqual(ids.length, truth.unique)
    assert.strictEqual(new Set(ids).size, ids.length)
    assert.isTrue(ids.every((id) => id.startsWith("r1-")))
    for (const [topic, topicIds] of truth.perTopic) {
      assert.isAbove(topicIds.length, 0)
      for (const id of topicIds) assert.strictEqual(truth.byKey.get(`${topic}\n${id}`)?.event_id, id)
    }
    assert.isTrue(batches.slice(0, -1).every((b) => b.length === 64))
    assert.strictEqual(batches.at(-1)?.length, 1000 - 64 * 15)
  })

  it("shuffles: duplicates are spread over the run, not appended at the end", () => {
    const all = generate(base).batches.flat()
    const firstSeen = new Set<string>()
    let repeatsInFirstHalf = 0
    all.forEach((e, i) => {
      if (firstSeen.has(keyOf(e)) && i < all.length / 2) repeatsInFirstHalf++
      firstSeen.add(keyOf(e))
    })
    assert.isAbove(repeatsInFirstHalf, 0)
  })

  it("rejects bad options with a message naming the option", () => {
    assert.throws(() => generate({ ...base, events: 0 }), /events must be an integer >= 1/)
    assert.throws(() => generate({ ...base, duplicateRatio: 1.5 }), /duplicateRatio must be in \[0, 1\]/)
    assert.throws(() => generate({ ...base, batchSize: 0 }), /batchSize/)
    assert.throws(() => generate({ ...base, topics: 1.5 }), /topics/)
    assert.throws(() => generate({ ...base, runId: "a b" }), /runId/)
  })

  it("mulberry32 is a seeded uniform source in [0, 1)", () => {
    const r = mulberry32(7)
    const xs = Array.from({ length: 10_000 }, r)
    assert.deepStrictEqual(xs.slice(0, 5), Array.from({ length: 5 }, mulberry32(7)))
    assert.isTrue(xs.every((x) => x >= 0 && x < 1))
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length
    assert.isTrue(Math.abs(mean - 0.5) < 0.02)
  })
})
