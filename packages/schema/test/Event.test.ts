import * as v from "valibot"
import { describe, expect, it } from "vitest"
import { Event, makeEvent, StoredEvent, toProblems } from "../src/index.ts"

const valid = {
  topic: "orders",
  event_id: "e-42",
  timestamp: "2026-11-21T10:00:00.123Z",
  source: "checkout-svc",
  payload: { amount: 500 }
}

const problemsOf = (schema: v.GenericSchema, input: unknown) => {
  const result = v.safeParse(schema, input)
  return result.success ? [] : toProblems(result.issues)
}

// A field set to a value, and the one problem expected (path + message fragment), or null when valid.
type Case = readonly [name: string, patch: Record<string, unknown>, problem: readonly [string, string] | null]

const emoji = "😀" // one code point, two UTF-16 units
const lengthCases = (["topic", "event_id", "source"] as const).flatMap(
  (field): Array<Case> => [
    [`${field} of length 0`, { [field]: "" }, [field, `${field} must not be empty`]],
    [`${field} of length 1`, { [field]: "a" }, null],
    [`${field} of length 255`, { [field]: "a".repeat(255) }, null],
    [
      `${field} of length 256`,
      { [field]: "a".repeat(256) },
      [field, `${field} must be at most 255 characters (got 256)`]
    ],
    [`${field} not a string`, { [field]: 42 }, [field, `${field} must be a string`]],
    [`${field} of 255 emoji (510 UTF-16 units)`, { [field]: emoji.repeat(255) }, null],
    [`${field} of 256 emoji`, { [field]: emoji.repeat(256) }, [field, "at most 255 characters (got 256)"]],
    [`${field} with a lone surrogate`, { [field]: "a\ud800b" }, [field, "well-formed Unicode"]]
  ]
)

const textCases: Array<Case> = [
  ["unicode event_id", { event_id: "заказ-注文-🧾" }, null],
  ["event_id with spaces (allowed)", { event_id: "order 42" }, null],
  ["event_id with U+0000", { event_id: "a\u0000b" }, ["event_id", "without U+0000"]],
  ["emoji + ZWJ family as id (counted in code points)", { event_id: "👨‍👩‍👧".repeat(51) }, null],
  ["unicode topic", { topic: "заказы.δ-1" }, null],
  ["topic with a space", { topic: "a b" }, ["topic", "must not contain whitespace or control characters"]],
  ["topic with a tab", { topic: "a\tb" }, ["topic", "whitespace or control"]],
  ["topic with a newline", { topic: "a\nb" }, ["topic", "whitespace or control"]],
  ["topic with U+0000", { topic: "a\u0000b" }, ["topic", "whitespace or control"]],
  ["topic with U+007F", { topic: "a\u007fb" }, ["topic", "whitespace or control"]],
  ["topic with no-break space U+00A0", { topic: "a\u00a0b" }, ["topic", "whitespace or control"]],
  ["topic with em space U+2003", { topic: "a\u2003b" }, ["topic", "whitespace or control"]],
  ["topic with a trailing space", { topic: "orders " }, ["topic", "whitespace or control"]]
]

const timestampCases: Array<Case> = [
  ["timestamp with Z", { timestamp: "2026-11-21T10:00:00Z" }, null],
  ["timestamp with +07:00", { timestamp: "2026-11-21T17:00:00+07:00" }, null],
  ["timestamp with -00:00", { timestamp: "2026-11-21T10:00:00-00:00" }, null],
  ["timestamp without seconds", { timestamp: "2026-11-21T10:00Z" }, null],
  ["timestamp with nanoseconds", { timestamp: "2026-11-21T10:00:00.123456789Z" }, null],
  ["leap day 2024-02-29", { timestamp: "2024-02-29T12:00:00Z" }, null],
  ["leap day 2000-02-29", { timestamp: "2000-02-29T12:00:00Z" }, null],
  ["timestamp without a zone", { timestamp: "2026-11-21T10:00:00" }, ["timestamp", "with a zone"]],
  ["date only", { timestamp: "2026-11-21" }, ["timestamp", "with a zone"]],
  ["space instead of T", { timestamp: "2026-11-21 10:00:00Z" }, ["timestamp", "with a zone"]],
  ["zone +0700 without colon", { timestamp: "2026-11-21T10:00:00+0700" }, ["timestamp", "with a zone"]],
  ["Feb 30", { timestamp: "2026-02-30T00:00:00Z" }, ["timestamp", "not a real calendar date"]],
  ["2023-02-29 (not a leap year)", { timestamp: "2023-02-29T00:00:00Z" }, ["timestamp", "not a real calendar date"]],
  ["1900-02-29 (century)", { timestamp: "1900-02-29T00:00:00Z" }, ["timestamp", "not a real calendar date"]],
  ["April 31", { timestamp: "2026-04-31T00:00:00Z" }, ["timestamp", "not a real calendar date"]],
  ["month 13", { timestamp: "2026-13-01T00:00:00Z" }, ["timestamp", "not a real calendar date"]],
  ["24:00", { timestamp: "2026-11-21T24:00:00Z" }, ["timestamp", "not a real time of day"]],
  ["23:60", { timestamp: "2026-11-21T23:60:00Z" }, ["timestamp", "not a real time of day"]],
  ["leap second 23:59:60", { timestamp: "2016-12-31T23:59:60Z" }, ["timestamp", "not a real time of day"]],
  ["zone +25:00", { timestamp: "2026-11-21T10:00:00+25:00" }, ["timestamp", "invalid zone offset"]],
  ["year 0000", { timestamp: "0000-06-01T00:00:00Z" }, ["timestamp", "out of range"]],
  ["timestamp as epoch number", { timestamp: 1763719200000 }, ["timestamp", "timestamp must be a string"]]
]

const payloadCases: Array<Case> = [
  ["payload that is an array", { payload: [1, 2] }, ["payload", "payload must be a JSON object"]],
  ["payload that is null", { payload: null }, ["payload", "payload must be a JSON object"]],
  ["payload that is a string", { payload: "{}" }, ["payload", "payload must be a JSON object"]],
  ["payload that is a number", { payload: 5 }, ["payload", "payload must be a JSON object"]],
  ["empty payload", { payload: {} }, null],
  ["nested payload", { payload: { a: [1, { b: null }], c: "é" } }, null],
  ["payload with U+0000 in a string", { payload: { a: "x\u0000" } }, ["payload", "U+0000"]],
  ["payload with U+0000 in a key", { payload: { "\u0000": 1 } }, ["payload", "U+0000"]],
  ["payload with the text \\u0000 (escaped backslash)", { payload: { a: "\\u0000" } }, null],
  ["payload with a lone surrogate", { payload: { a: "\udc00" } }, ["payload", "unpaired surrogates"]],
  ["payload with a surrogate pair", { payload: { a: "😀" } }, null]
]

const otherCases: Array<Case> = [
  ["the README example", {}, null],
  ["missing topic", { topic: undefined }, ["topic", "topic is required"]],
  ["missing payload", { payload: undefined }, ["payload", "payload is required"]]
]

const apply = (patch: Record<string, unknown>) => {
  const event: Record<string, unknown> = { ...valid, ...patch }
  for (const key of Object.keys(patch)) if (patch[key] === undefined) delete event[key]
  return event
}

describe("Event", () => {
  it.each([...lengthCases, ...textCases, ...timestampCases, ...payloadCases, ...otherCases])(
    "%s",
    (_name, patch, problem) => {
      const problems = problemsOf(Event, apply(patch))
      if (problem === null) {
        expect(problems).toEqual([])
      } else {
        expect(problems).toHaveLength(1)
        expect(problems[0]?.path).toBe(problem[0])
        expect(problems[0]?.message).toContain(problem[1])
      }
    }
  )

  it.each([
    ["2026-11-21T10:00:00Z", "2026-11-21T10:00:00.000Z"],
    ["2026-11-21T17:00:00+07:00", "2026-11-21T10:00:00.000Z"],
    ["2026-11-21T05:30:00.5-04:30", "2026-11-21T10:00:00.500Z"],
    ["2026-11-21T10:00:00.123456789Z", "2026-11-21T10:00:00.123Z"],
    ["2026-01-01T01:00:00+02:00", "2025-12-31T23:00:00.000Z"]
  ])("normalizes timestamp %s to the UTC instant %s", (input, expected) => {
    expect(v.parse(Event, { ...valid, timestamp: input }).timestamp).toBe(expected)
  })

  it("drops extra top-level fields", () => {
    const output = v.parse(Event, { ...valid, extra: 1, offset: 7 })
    expect(Object.keys(output).sort()).toEqual(["event_id", "payload", "source", "timestamp", "topic"])
  })

  it("refuses non-objects as a whole, with one problem", () => {
    for (const input of [[valid], null, "event", 42]) {
      expect(problemsOf(Event, input)).toEqual([{ index: null, path: "", message: "event must be a JSON object" }])
    }
  })

  it("lists every problem of an event, one per field", () => {
    const problems = problemsOf(Event, { topic: "", event_id: 1, timestamp: "now", payload: [] })
    expect(problems.map((p) => p.path)).toEqual(["topic", "event_id", "timestamp", "source", "payload"])
  })

  it("keeps __proto__ and constructor keys of a payload as data, without prototype pollution", () => {
    const input = JSON.parse(
      `{"topic":"t","event_id":"e","timestamp":"2026-11-21T10:00:00Z","source":"s",
        "payload":{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"a":{"__proto__":[1]}}}`
    )
    const output = v.parse(Event, input)
    expect(Object.hasOwn(output.payload, "__proto__")).toBe(true)
    expect(Object.getPrototypeOf(output.payload)).toBe(Object.prototype)
    expect(JSON.parse(JSON.stringify(output)).payload).toEqual(JSON.parse(JSON.stringify(input.payload)))
    expect(JSON.stringify(output.payload)).toBe(
      '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"a":{"__proto__":[1]}}'
    )
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
    // The payload is not copied: the hot path allocates nothing for it.
    expect(output.payload).toBe(input.payload)
  })

  it("drops a top-level __proto__ key without touching the output's prototype", () => {
    const output = v.parse(Event, JSON.parse(`{"__proto__":{"polluted":1},${JSON.stringify(valid).slice(1)}`))
    expect(Object.getPrototypeOf(output)).toBe(Object.prototype)
    expect(Object.hasOwn(output, "__proto__")).toBe(false)
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
  })
})

describe("payload size limit", () => {
  // {"a":"xxx…"} is 8 bytes plus the string.
  const ofBytes = (n: number, char = "x") => ({ a: char.repeat((n - 8) / Buffer.byteLength(char)) })

  it.each([
    ["exactly at the default 64 KiB limit", Event, ofBytes(65_536), true],
    ["one byte over the default limit", Event, ofBytes(65_537), false],
    ["at a configured limit of 100 bytes", makeEvent({ maxPayloadBytes: 100 }), ofBytes(100), true],
    ["one byte over a configured limit", makeEvent({ maxPayloadBytes: 100 }), ofBytes(101), false],
    ["2-byte characters exactly at the limit", makeEvent({ maxPayloadBytes: 100 }), ofBytes(100, "é"), true],
    ["3-byte characters over the limit by UTF-8 bytes", makeEvent({ maxPayloadBytes: 100 }), ofBytes(101, "€"), false]
  ] as const)("%s", (_name, schema, payload, ok) => {
    const problems = problemsOf(schema, { ...valid, payload })
    if (ok) expect(problems).toEqual([])
    else expect(problems).toEqual([{ index: null, path: "payload", message: expect.stringContaining("at most") }])
  })

  it("refuses a payload too deep to serialize instead of throwing", () => {
    let deep: Record<string, unknown> = {}
    for (let i = 0; i < 200_000; i++) deep = { d: deep }
    expect(problemsOf(Event, { ...valid, payload: deep })).toEqual([
      { index: null, path: "payload", message: "payload must be serializable as JSON" }
    ])
  })
})

describe("StoredEvent", () => {
  it("accepts a served event and refuses a bad offset", () => {
    const served = { ...valid, offset: 3, received_at: "2026-11-21T10:00:01.000Z" }
    const parsed: StoredEvent = v.parse(StoredEvent, served)
    expect(parsed.offset).toBe(3)
    expect(problemsOf(StoredEvent, { ...served, offset: 0 }).map((p) => p.path)).toEqual(["offset"])
    expect(problemsOf(StoredEvent, { ...served, offset: 1.5 }).map((p) => p.path)).toEqual(["offset"])
  })
})
