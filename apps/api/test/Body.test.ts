/**
 * Strict body decoding (`parseJson`): UTF-8, JSON, then what PostgreSQL would refuse later (U+0000, unpaired
 * surrogates) and nesting depth, each refused with the path of the first problem. Also the fast path: a body
 * without any `\u` escape skips the string checks, so the escapes are what these cases exercise.
 */
import { describe, expect, it } from "vitest"
import { MAX_JSON_DEPTH, parseJson } from "../src/Body.ts"

const parse = (text: string | Buffer) => parseJson(Buffer.isBuffer(text) ? text : Buffer.from(text, "utf8"))
const refusal = (text: string | Buffer) => {
  const result = parse(text)
  if (result.ok) throw new Error(`expected a refusal of ${String(text)}`)
  return result.message
}

describe("parseJson", () => {
  it("accepts JSON, with or without harmless escapes, and returns the value (with the decoded text)", () => {
    const text = '{"a":[1,{"b":"x"}]}'
    expect(parse(text)).toEqual({ ok: true, value: { a: [1, { b: "x" }] }, text })
    expect(parse('{"a":"\\u00e9\\ud83d\\ude00"}')).toMatchObject({ ok: true, value: { a: "é😀" } })
    // An escaped backslash followed by "u0000" is six plain characters, not U+0000.
    expect(parse('["\\\\u0000"]')).toMatchObject({ ok: true, value: ["\\u0000"] })
  })

  it("refuses invalid UTF-8, empty bodies and invalid JSON", () => {
    expect(refusal(Buffer.from([0x7b, 0xff, 0x7d]))).toBe("the request body is not valid UTF-8")
    expect(refusal(" \n ")).toBe("the request body is empty")
    expect(refusal("{nope")).toMatch(/^the request body is not valid JSON: /)
  })

  it("refuses U+0000 and unpaired surrogates in strings and keys, naming where", () => {
    expect(refusal('[{"payload":{"a":["ok","x\\u0000"]}}]')).toBe(
      "the request body is not acceptable JSON: [0].payload.a[1]: strings must not contain U+0000"
    )
    expect(refusal('{"events":[{},{"s":"\\ud800"}]}')).toBe(
      "the request body is not acceptable JSON: events[1].s: strings must not contain unpaired UTF-16 surrogates"
    )
    expect(refusal('{"p":{"k\\udc00":1}}')).toBe(
      "the request body is not acceptable JSON: p: keys must not contain U+0000 or unpaired UTF-16 surrogates"
    )
    expect(refusal('"\\u0000"')).toBe("the request body is not acceptable JSON: body: strings must not contain U+0000")
  })

  it("refuses nesting deeper than the limit, with or without escapes in the body", () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`
    expect(parse(nested(MAX_JSON_DEPTH)).ok).toBe(true)
    const tooDeep = `the request body is not acceptable JSON: ${"[0]".repeat(MAX_JSON_DEPTH)}: nested deeper than ${MAX_JSON_DEPTH} levels`
    expect(refusal(nested(MAX_JSON_DEPTH + 1))).toBe(tooDeep)
    expect(refusal(`{"x":"\\u00e9","y":${nested(MAX_JSON_DEPTH)}}`)).toBe(
      `the request body is not acceptable JSON: y${"[0]".repeat(MAX_JSON_DEPTH - 1)}: nested deeper than ${MAX_JSON_DEPTH} levels`
    )
  })
})
