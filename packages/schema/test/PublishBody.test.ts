import { describe, expect, it } from "vitest"
import {
  defaultLimits,
  MAX_LISTED_PROBLEMS,
  makeLimits,
  makePublishBody,
  type PublishBodyResult,
  parsePublishBody
} from "../src/index.ts"

const event = (id: string, extra: Record<string, unknown> = {}) => ({
  topic: "orders",
  event_id: id,
  timestamp: "2026-11-21T17:00:00+07:00",
  source: "checkout-svc",
  payload: { id },
  ...extra
})

const ids = (result: PublishBodyResult) => (result.ok ? result.events.map((e) => e.event_id) : result)

describe("publish body shapes", () => {
  it.each([
    ["one event object", event("a"), ["a"]],
    ["an array of events", [event("a"), event("b")], ["a", "b"]],
    ['{"events": [...]}', { events: [event("a"), event("b"), event("c")] }, ["a", "b", "c"]],
    ["a wrapper with other members (ignored)", { events: [event("a")], trace: "x" }, ["a"]],
    [
      "an event with a non-array `events` field (a single event; the field is dropped)",
      event("a", { events: 3 }),
      ["a"]
    ],
    ["an array holding one event", [event("a")], ["a"]]
  ])("accepts %s", (_name, body, expected) => {
    expect(ids(parsePublishBody(body))).toEqual(expected)
  })

  it("normalizes every event (UTC timestamps, extra fields dropped)", () => {
    const result = parsePublishBody(JSON.parse(JSON.stringify({ events: [event("a", { extra: true })] })))
    expect(result).toEqual({
      ok: true,
      events: [
        {
          topic: "orders",
          event_id: "a",
          timestamp: "2026-11-21T10:00:00.000Z",
          source: "checkout-svc",
          payload: { id: "a" }
        }
      ]
    })
  })

  it.each([
    ["a JSON string", "hello"],
    ["a JSON number", 42],
    ["JSON null", null],
    ["JSON true", true]
  ])("refuses a body that is %s, naming the accepted shapes", (_name, body) => {
    expect(parsePublishBody(body)).toEqual({
      ok: false,
      kind: "invalid",
      issues: [
        { index: null, path: "", message: 'body must be an event object, an array of events, or {"events": [...]}' }
      ]
    })
  })

  it("refuses a wrapper whose events is not an array", () => {
    expect(parsePublishBody({ events: { topic: "x" } })).toEqual({
      ok: false,
      kind: "invalid",
      issues: [{ index: null, path: "events", message: "events must be an array of events" }]
    })
  })
})

describe("batch size", () => {
  it.each([
    ["an empty array", []],
    ["an empty wrapper", { events: [] }]
  ])("refuses %s as empty", (_name, body) => {
    const result = parsePublishBody(body)
    expect(result.ok === false && result.kind).toBe("empty")
  })

  it("accepts a batch exactly at the default limit of 10,000", () => {
    const body = Array.from({ length: defaultLimits.maxEventsPerRequest }, (_, i) => event(`e${i}`))
    const result = parsePublishBody(body)
    expect(result.ok && result.events.length).toBe(10_000)
  })

  it("refuses a batch one over the limit as too_many, without validating its events", () => {
    // Every item is invalid: had they been validated, the kind would be "invalid" with 10,001 problems.
    const result = parsePublishBody({ events: Array.from({ length: 10_001 }, () => 0) })
    expect(result).toEqual({
      ok: false,
      kind: "too_many",
      issues: [{ index: null, path: "", message: "the batch has 10001 events; at most 10000 are allowed per request" }]
    })
  })

  it.each([
    [3, true],
    [4, false]
  ])("with a configured limit of 3, a batch of %i is accepted: %s", (n, ok) => {
    const parse = makePublishBody(makeLimits({ maxEventsPerRequest: 3 }))
    const result = parse(Array.from({ length: n }, (_, i) => event(`e${i}`)))
    expect(result.ok ? "ok" : result.kind).toBe(ok ? "ok" : "too_many")
  })

  it("refuses a bad limits configuration by name", () => {
    expect(() => makeLimits({ maxEventsPerRequest: 0 })).toThrow(
      "Limits.maxEventsPerRequest must be a positive integer"
    )
    expect(() => makeLimits({ maxPayloadBytes: 1.5 })).toThrow("Limits.maxPayloadBytes")
  })
})

describe("all-or-nothing problems", () => {
  it("lists every problem of every event with its index and a path relative to the event", () => {
    const body = {
      events: [
        event("ok-0"),
        event("", { topic: "a b" }),
        event("ok-2"),
        [],
        event("x", { payload: null, timestamp: "2026-11-21T10:00:00" })
      ]
    }
    const result = parsePublishBody(body)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.kind).toBe("invalid")
    expect(result.issues.map(({ index, path }) => [index, path])).toEqual([
      [1, "topic"],
      [1, "event_id"],
      [3, ""],
      [4, "timestamp"],
      [4, "payload"]
    ])
    expect(result.issues.every((p) => p.message.length > 0)).toBe(true)
  })

  it("lists at most the first 100 problems, with the count of all of them", () => {
    const one = parsePublishBody([{}])
    const perEvent = one.ok ? 0 : one.issues.length
    expect(perEvent).toBeGreaterThan(1)
    const result = parsePublishBody(Array.from({ length: 10_000 }, () => ({})))
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.issues).toHaveLength(MAX_LISTED_PROBLEMS)
    expect(result.issueCount).toBe(10_000 * perEvent)
    expect(result.issues.map((p) => p.index)).toEqual(
      Array.from({ length: MAX_LISTED_PROBLEMS }, (_, i) => Math.floor(i / perEvent))
    )
    // under the cap nothing is left out and no count is added
    expect(one.ok === false && one.issueCount).toBe(undefined)
  })

  it("reports missing fields as required", () => {
    const result = parsePublishBody([{ topic: "t" }])
    expect(result.ok === false && result.issues.map((p) => p.message)).toEqual([
      "event_id is required",
      "timestamp is required",
      "source is required",
      "payload is required"
    ])
  })

  it("applies the configured payload limit to every event", () => {
    const parse = makePublishBody({ maxPayloadBytes: 16, maxEventsPerRequest: 10 })
    const result = parse([event("a", { payload: { a: 1 } }), event("b", { payload: { a: "x".repeat(20) } })])
    expect(result.ok === false && result.issues.map((p) => [p.index, p.path])).toEqual([[1, "payload"]])
  })

  it("keeps __proto__ payload keys verbatim through a whole body", () => {
    const body = JSON.parse(`[${JSON.stringify(event("a")).replace('{"id":"a"}', '{"__proto__":{"polluted":1}}')}]`)
    const result = parsePublishBody(body)
    expect(result.ok && JSON.stringify(result.events[0]?.payload)).toBe('{"__proto__":{"polluted":1}}')
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
  })
})
