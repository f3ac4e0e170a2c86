import { assert, describe, it } from "@effect/vitest"
import { assignOffsets } from "../src/Ordering.ts"

describe("Ordering.assignOffsets", () => {
  it("continues each topic from its current count, in arrival order", () => {
    const current = new Map([["a", 3]])
    const { offsets, counts } = assignOffsets(["a", "b", "a", "b", "c"], (t) => current.get(t) ?? 0)
    assert.deepStrictEqual(offsets, [4, 1, 5, 2, 1])
    assert.deepStrictEqual(
      [...counts.entries()],
      [
        ["a", 5],
        ["b", 2],
        ["c", 1]
      ]
    )
  })

  it("an empty batch assigns nothing", () => {
    const { offsets, counts } = assignOffsets([], () => 7)
    assert.deepStrictEqual(offsets, [])
    assert.strictEqual(counts.size, 0)
  })
})
