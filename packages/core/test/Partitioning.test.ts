import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import {
  compareDeadLetterIds,
  deadLetterId,
  fnv1a32,
  maxPartitions,
  parseDeadLetterId,
  partitionOf,
  share,
  validatePartitions
} from "../src/Partitioning.ts"

// An independent FNV-1a: BigInt arithmetic over Node's UTF-8 encoding, to check the Math.imul version against.
const reference = (text: string): number => {
  let hash = 2166136261n
  for (const byte of Buffer.from(text, "utf8")) hash = ((hash ^ BigInt(byte)) * 16777619n) % 2n ** 32n
  return Number(hash)
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("Partitioning.fnv1a32", () => {
  it("matches the published FNV-1a 32-bit vectors", () => {
    assert.strictEqual(fnv1a32(""), 0x811c9dc5)
    assert.strictEqual(fnv1a32("a"), 0xe40c292c)
    assert.strictEqual(fnv1a32("foobar"), 0xbf9cf968)
  })

  it("hashes UTF-8 bytes, a lone surrogate as U+FFFD", () => {
    assert.strictEqual(fnv1a32("é"), reference("é"))
    assert.notStrictEqual(fnv1a32("é"), fnv1a32("\u00e9".normalize("NFD")), "bytes, not characters")
    assert.strictEqual(fnv1a32("a\ud800b"), fnv1a32("a\ufffdb"))
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => fnv1a32(text) === reference(text)),
      { numRuns: 500 }
    )
  })

  it("is an unsigned 32-bit integer", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const hash = fnv1a32(text)
        return Number.isInteger(hash) && hash >= 0 && hash < 2 ** 32
      })
    )
  })
})

describe("Partitioning.validatePartitions", () => {
  it("accepts integers from 1 to 1024 and names the bad value otherwise", () => {
    assert.strictEqual(maxPartitions, 1024)
    for (const n of [1, 2, 16, 1024]) assert.isUndefined(validatePartitions(n))
    for (const n of [0, -1, 1025, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      assert.strictEqual(validatePartitions(n), `must be an integer from 1 to 1024, got ${n}`)
  })
})

describe("Partitioning.partitionOf", () => {
  it("is the hash modulo the partition count", () => {
    assert.strictEqual(partitionOf("foobar", 7), 0xbf9cf968 % 7)
    assert.strictEqual(partitionOf("anything", 1), 0)
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: maxPartitions }), (topic, n) => {
        const p = partitionOf(topic, n)
        return p === fnv1a32(topic) % n && p >= 0 && p < n
      })
    )
  })

  it("throws a RangeError on a bad partition count", () => {
    for (const n of [0, 1025, 2.5]) assert.throws(() => partitionOf("t", n), RangeError, `got ${n}`)
  })
})

describe("Partitioning.share", () => {
  it("deals partitions round-robin by rank among the sorted live names", () => {
    const live = ["c", "a", "b", "a"]
    assert.deepStrictEqual(share("a", live, 8), [0, 3, 6])
    assert.deepStrictEqual(share("b", live, 8), [1, 4, 7])
    assert.deepStrictEqual(share("c", live, 8), [2, 5])
    assert.deepStrictEqual(share("c", live, 2), [], "more consumers than partitions: the last own nothing")
    // Plain code-unit order, not locale order: "B" sorts before "a".
    assert.deepStrictEqual(share("B", ["a", "B"], 2), [0])
  })

  it("gives a consumer that is not live every partition", () => {
    assert.deepStrictEqual(share("x", ["a", "b"], 4), [0, 1, 2, 3])
    assert.deepStrictEqual(share("x", [], 3), [0, 1, 2])
  })

  it("gives everyone the one partition when there is only one", () => {
    assert.deepStrictEqual(share("a", ["a", "b"], 1), [0])
    assert.deepStrictEqual(share("b", ["a", "b"], 1), [0])
    assert.deepStrictEqual(share("x", ["a", "b"], 1), [0])
  })

  it("splits the partitions among the live consumers: each owned once, evenly, whatever the input order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 2, max: 64 }),
        (names, n) => {
          const shuffled = [...names].reverse()
          const shares = names.map((name) => share(name, [...shuffled, ...names], n))
          const owned = shares.flat().sort((a, b) => a - b)
          const sizes = shares.map((s) => s.length)
          return (
            JSON.stringify(owned) === JSON.stringify(range(n)) &&
            Math.max(...sizes) - Math.min(...sizes) <= 1 &&
            shares.every((s) => s.every((p, i) => i === 0 || s[i - 1]! < p)) &&
            names.every((name, i) => JSON.stringify(share(name, names, n)) === JSON.stringify(shares[i]))
          )
        }
      )
    )
  })

  it("throws a RangeError on a bad partition count", () => {
    assert.throws(() => share("a", ["a"], 0), RangeError, "got 0")
  })
})

describe("Partitioning dead-letter ids", () => {
  it("spells partition 0 as the plain id and the others with a suffix", () => {
    assert.strictEqual(deadLetterId(0, "17-3"), "17-3")
    assert.strictEqual(deadLetterId(5, "17-3"), "17-3-5")
    assert.deepStrictEqual(parseDeadLetterId("17-3"), { partition: 0, id: "17-3" })
    assert.deepStrictEqual(parseDeadLetterId("17-3-5"), { partition: 5, id: "17-3" })
    assert.deepStrictEqual(parseDeadLetterId("17-3-1023"), { partition: 1023, id: "17-3" })
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: 0, max: maxPartitions - 1 }),
        (ms, seq, partition) => {
          const id = `${ms}-${seq}`
          const parsed = parseDeadLetterId(deadLetterId(partition, id))
          return parsed?.partition === partition && parsed.id === id
        }
      )
    )
  })

  it("has one spelling only: no -0, no leading zero, no partition past the maximum", () => {
    for (const text of ["17-3-0", "17-3-05", "17-3-1024", "17-3-x", "17-3-", "17", "x-1", "", "17-3 ", "-17-3"])
      assert.isUndefined(parseDeadLetterId(text), text)
  })

  it("orders by ms, then seq as numbers, then partition", () => {
    const ids = ["2-0", "1-10-3", "1-9-2", "1-10", "1-9", "18446744073709551615-0", "18446744073709551614-5-1"]
    assert.deepStrictEqual([...ids].sort(compareDeadLetterIds), [
      "1-9",
      "1-9-2",
      "1-10",
      "1-10-3",
      "2-0",
      "18446744073709551614-5-1",
      "18446744073709551615-0"
    ])
    assert.strictEqual(compareDeadLetterIds("3-4-2", "3-4-2"), 0)
  })

  it("throws a RangeError naming a malformed id", () => {
    assert.throws(() => compareDeadLetterIds("1-0", "1-0-0"), RangeError, '"1-0-0"')
    assert.throws(() => compareDeadLetterIds("oops", "1-0"), RangeError, '"oops"')
  })
})
