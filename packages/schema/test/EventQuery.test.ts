import { describe, expect, it } from "vitest"
import { parseEventQuery, parseStreamQuery } from "../src/index.ts"

describe("GET /events query parameters", () => {
  it.each([
    ["no parameters", "", { after: 0, limit: 100 }],
    ["a topic", "topic=orders", { topic: "orders", after: 0, limit: 100 }],
    [
      "an encoded unicode topic",
      "topic=%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7%D1%8B",
      { topic: "заказы", after: 0, limit: 100 }
    ],
    ["after=0", "after=0", { after: 0, limit: 100 }],
    ["after=42 and limit=1", "after=42&limit=1", { after: 42, limit: 1 }],
    ["limit=1000 (the maximum)", "limit=1000", { after: 0, limit: 1000 }],
    ["leading zeros", "after=007", { after: 7, limit: 100 }],
    ["the largest safe after", "after=9007199254740991", { after: 9007199254740991, limit: 100 }]
  ])("accepts %s", (_name, search, query) => {
    expect(parseEventQuery(new URLSearchParams(search))).toEqual({ ok: true, query })
  })

  it.each([
    ["after", "1.5"],
    ["after", "1e3"],
    ["after", "-1"],
    ["after", "+1"],
    ["after", "abc"],
    ["after", ""],
    ["after", " 1"],
    ["after", "0x10"],
    ["after", "9007199254740992"],
    ["limit", "0"],
    ["limit", "1001"],
    ["limit", "1.0"],
    ["limit", ""],
    ["topic", ""],
    ["topic", "a b"],
    ["topic", "x".repeat(256)]
  ])("refuses %s=%j, naming the parameter", (name, value) => {
    const result = parseEventQuery({ [name]: value })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.issues).toHaveLength(1)
    expect(result.issues[0]).toMatchObject({ index: null, path: name, message: expect.stringContaining(name) })
  })

  it("refuses unknown parameters by name, with the allowed ones", () => {
    expect(parseEventQuery(new URLSearchParams("topic=t&offset=3&page=2"))).toEqual({
      ok: false,
      issues: [
        {
          index: null,
          path: "offset",
          message: 'unknown query parameter "offset" (allowed: topic, after, since, limit)'
        },
        { index: null, path: "page", message: 'unknown query parameter "page" (allowed: topic, after, since, limit)' }
      ]
    })
  })

  it("refuses a repeated parameter, from URLSearchParams or a record with an array", () => {
    const expected = {
      ok: false,
      issues: [{ index: null, path: "limit", message: "limit must be given at most once" }]
    }
    expect(parseEventQuery(new URLSearchParams("limit=1&limit=2"))).toEqual(expected)
    expect(parseEventQuery({ limit: ["1", "2"] })).toEqual(expected)
  })

  it("reads a record, skipping undefined values", () => {
    expect(parseEventQuery({ topic: "t", after: undefined, limit: "5" })).toEqual({
      ok: true,
      query: { topic: "t", after: 0, limit: 5 }
    })
  })

  it("lists every problem at once", () => {
    const result = parseEventQuery({ after: "-1", limit: "5000", x: "1" })
    expect(result.ok === false && result.issues.map((p) => p.path)).toEqual(["x", "after", "limit"])
  })

  it("takes since as an ISO time with a zone, normalized to UTC, and refuses it beside after", () => {
    expect(parseEventQuery({ topic: "t", since: "2026-11-21T12:00:00+02:00" })).toEqual({
      ok: true,
      query: { topic: "t", after: 0, since: "2026-11-21T10:00:00.000Z", limit: 100 }
    })
    const bad = parseEventQuery({ since: "yesterday" })
    expect(bad.ok === false && bad.issues.map((p) => p.path)).toEqual(["since"])
    expect(parseEventQuery({ after: "3", since: "2026-11-21T10:00:00Z" })).toEqual({
      ok: false,
      issues: [{ index: null, path: "since", message: "give after or since, not both" }]
    })
  })

  it("parses the stream's parameters: no limit", () => {
    expect(parseStreamQuery({ topic: "t", after: "7" })).toEqual({ ok: true, query: { topic: "t", after: 7 } })
    const bad = parseStreamQuery({ limit: "5" })
    expect(bad.ok === false && bad.issues[0]?.message).toBe(
      'unknown query parameter "limit" (allowed: topic, after, since)'
    )
  })
})
