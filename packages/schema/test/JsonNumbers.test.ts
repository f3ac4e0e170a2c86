import { describe, expect, it } from "vitest"
import { inexactNumbers, isExactNumber, parsePublishBody } from "../src/index.ts"

const event = (payload: string, id = "a") =>
  `{"topic":"t","event_id":"${id}","timestamp":"2026-11-21T10:00:00Z","source":"s","payload":${payload}}`

describe("numbers that a JavaScript number cannot hold", () => {
  it.each([
    "1e400",
    "-1e400",
    "1e-400",
    "1".repeat(300),
    String(2n ** 64n + 1n),
    "9007199254740993",
    "1.0000000000000000001",
    "123456789012345678"
  ])("%s is inexact", (literal) => {
    expect(isExactNumber(literal)).toBe(false)
  })

  it.each([
    "0",
    "-0",
    "1.50",
    "1E2",
    "0.1",
    "0.30000000000000004",
    "9007199254740991",
    "5e-324",
    "1.7976931348623157e308",
    "1e21",
    "123456789012345"
  ])("%s keeps its value", (literal) => {
    expect(isExactNumber(literal)).toBe(true)
  })

  it("finds them with their path, skipping strings and keys that look like numbers", () => {
    const text = `{"a":[1,{"b":1e400}],"12345678901234567":"12345678901234567","c d":${"9".repeat(20)},"e":0.1}`
    expect(inexactNumbers(text)).toEqual([
      { segments: ["a", 1, "b"], literal: "1e400" },
      { segments: ["c d"], literal: "9".repeat(20) }
    ])
    expect(inexactNumbers('{"x":1.25,"y":[0.1,2]}')).toEqual([])
  })

  it("a publish body with one is refused, naming the event and the path, in each shape", () => {
    const bad = event('{"amount":{"cents":1e400}}', "b")
    for (const [text, index] of [
      [`[${event("{}")},${bad}]`, 1],
      [`{"events":[${event("{}")},${bad}]}`, 1],
      [bad, 0]
    ] as const) {
      const result = parsePublishBody(JSON.parse(text), undefined, text)
      expect(result.ok).toBe(false)
      if (result.ok) continue
      expect(result.issues.map((p) => [p.index, p.path])).toEqual([[index, "payload.amount.cents"]])
      expect(result.issues[0]!.message).toMatch(/1e400 cannot be stored exactly/)
    }
    const fine = `[${event('{"n":0.1,"big":9007199254740991}')}]`
    expect(parsePublishBody(JSON.parse(fine), undefined, fine).ok).toBe(true)
  })
})
