import { assert, describe, it } from "@effect/vitest"
import { canonicalJson, contentHash, fnv1a64 } from "../src/ContentHash.ts"

const base = { timestamp: "2026-11-21T10:00:00.123Z", source: "svc", payload: { a: 1, b: { c: [1, 2], d: null } } }

describe("ContentHash", () => {
  it("FNV-1a 64 matches the published test vectors", () => {
    assert.strictEqual(fnv1a64(""), "cbf29ce484222325")
    assert.strictEqual(fnv1a64("a"), "af63dc4c8601ec8c")
    assert.strictEqual(fnv1a64("foobar"), "85944171f73967e8")
  })

  it("hashes multi-byte UTF-8 by bytes", () => {
    assert.notStrictEqual(fnv1a64("é"), fnv1a64("e"))
    assert.match(fnv1a64("日本語 🎉"), /^[0-9a-f]{16}$/)
  })

  it("canonical JSON sorts keys at every depth and keeps array order", () => {
    assert.strictEqual(
      canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 2 } }),
      '{"a":{"c":2,"d":[3,{"y":2,"z":1}]},"b":1}'
    )
  })

  it("is independent of payload key order", () => {
    const reordered = { ...base, payload: { b: { d: null, c: [1, 2] }, a: 1 } }
    assert.strictEqual(contentHash(reordered), contentHash(base))
  })

  it("changes with timestamp, source, payload values and array order", () => {
    const h = contentHash(base)
    assert.notStrictEqual(contentHash({ ...base, timestamp: "2026-11-21T10:00:00.124Z" }), h)
    assert.notStrictEqual(contentHash({ ...base, source: "svc2" }), h)
    assert.notStrictEqual(contentHash({ ...base, payload: { a: 2, b: base.payload.b } }), h)
    assert.notStrictEqual(contentHash({ ...base, payload: { a: 1, b: { c: [2, 1], d: null } } }), h)
    assert.notStrictEqual(contentHash({ ...base, payload: { a: "1", b: base.payload.b } }), h)
  })

  it("does not confuse field boundaries", () => {
    assert.notStrictEqual(
      contentHash({ timestamp: "t", source: "ab", payload: {} }),
      contentHash({ timestamp: "ta", source: "b", payload: {} })
    )
  })

  it("keeps a __proto__ key of a payload as data (parsed from JSON, as the API does)", () => {
    const a = JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>
    const b = JSON.parse('{"__proto__":{"x":2}}') as Record<string, unknown>
    assert.strictEqual(canonicalJson(a), '{"__proto__":{"x":1}}')
    assert.notStrictEqual(
      contentHash({ timestamp: "t", source: "s", payload: a }),
      contentHash({ timestamp: "t", source: "s", payload: b })
    )
  })
})
