import { describe, expect, it } from "vitest"
import { eventQueryParameters, formatPath, makeJsonSchemas, summarizeProblems } from "../src/index.ts"

describe("JSON Schema export", () => {
  const schemas = makeJsonSchemas({ maxPayloadBytes: 1024, maxEventsPerRequest: 50 })
  const props = (name: keyof typeof schemas) => schemas[name]["properties"] as Record<string, Record<string, unknown>>

  it("describes the event with its limits and the timestamp zone requirement", () => {
    expect(schemas.Event["required"]).toEqual(["topic", "event_id", "timestamp", "source", "payload"])
    for (const field of ["topic", "event_id", "source"]) {
      expect(props("Event")[field]).toMatchObject({ type: "string", minLength: 1, maxLength: 255 })
    }
    expect(props("Event")["timestamp"]).toMatchObject({ type: "string", format: "date-time" })
    expect(props("Event")["timestamp"]?.["description"]).toContain("with a zone")
    expect(props("Event")["payload"]).toMatchObject({ type: "object" })
    expect(props("Event")["payload"]?.["description"]).toContain("1024 bytes")
  })

  it("makes the publish body oneOf the three shapes, referencing the Event component", () => {
    const oneOf = schemas.PublishBody["oneOf"] as Array<Record<string, unknown>>
    expect(oneOf).toHaveLength(3)
    expect(oneOf[0]).toEqual({ $ref: "#/components/schemas/Event" })
    expect(oneOf[1]).toMatchObject({ type: "array", minItems: 1, maxItems: 50 })
    expect(oneOf[2]).toMatchObject({ type: "object", required: ["events"] })
  })

  it("types the stored event, the page and the query parameters", () => {
    expect(props("StoredEvent")["offset"]).toMatchObject({ type: "integer", minimum: 1 })
    expect(props("StoredEvent")["position"]).toMatchObject({ type: "integer", minimum: 1 })
    expect(schemas.StoredEvent["required"]).not.toContain("position")
    expect(props("EventsPage")["next_after"]).toMatchObject({ type: "integer", minimum: 0 })
    expect(schemas.EventsPage["required"]).toEqual(["events", "next_after"])
    expect(props("EventQuery")["limit"]).toMatchObject({ type: "integer", minimum: 1, maximum: 1000, default: 100 })
    expect(schemas.EventQuery["additionalProperties"]).toBe(false)
    expect(eventQueryParameters().map((p) => [p.name, p.in, p.schema["type"]])).toEqual([
      ["topic", "query", "string"],
      ["after", "query", "integer"],
      ["since", "query", "string"],
      ["limit", "query", "integer"]
    ])
  })

  it("describes every response body, the error codes when given", () => {
    expect(schemas.PublishCommitted["required"]).toEqual(["accepted", "unique", "duplicates"])
    expect(schemas.PublishQueued["required"]).toEqual(["accepted"])
    expect(schemas.PublishReply["anyOf"]).toEqual([
      { $ref: "#/components/schemas/PublishCommitted" },
      { $ref: "#/components/schemas/PublishQueued" }
    ])
    expect(schemas.StatsBody["required"]).toEqual([
      "received",
      "unique_processed",
      "duplicate_dropped",
      "conflicts",
      "pending",
      "topics",
      "uptime_seconds"
    ])
    expect(props("StatsBody")["received"]).toMatchObject({ type: "integer", minimum: 0 })
    expect(props("HealthBody")["status"]).toMatchObject({ enum: ["ok", "unavailable"] })
    expect(props("HealthBody")["checks"]).toMatchObject({ required: ["store"] })
    const error = () => (props("ErrorBody")["error"]?.["properties"] ?? {}) as Record<string, Record<string, unknown>>
    expect(error()["code"]).toMatchObject({ type: "string" })
    expect(error()["code"]?.["enum"]).toBeUndefined()
    expect(error()["issues"]).toMatchObject({ type: "array", items: { $ref: "#/components/schemas/Problem" } })
    const coded = makeJsonSchemas(undefined, { errorCodes: ["invalid_events", "unavailable"] }).ErrorBody
    expect(coded["properties"]).toMatchObject({
      error: { properties: { code: { enum: ["invalid_events", "unavailable"] } } }
    })
    expect(props("Problem")["index"]).toMatchObject({ anyOf: [{ type: "integer" }, { type: "null" }] })
  })

  it("is plain JSON with only component references", () => {
    const text = JSON.stringify(schemas)
    const refs = [...text.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1])
    expect(new Set(refs)).toEqual(
      new Set(
        ["Event", "StoredEvent", "PublishCommitted", "PublishQueued", "Problem", "StoredConflict", "DeadLetter"].map(
          (n) => `#/components/schemas/${n}`
        )
      )
    )
    expect(JSON.parse(text)).toEqual(schemas)
  })
})

describe("problem formatting", () => {
  it.each([
    [[], ""],
    [[{ key: "topic" }], "topic"],
    [[{ key: "payload" }, { key: "a" }], "payload.a"],
    [[{ key: "events" }, { key: 3 }, { key: "topic" }], "events[3].topic"],
    [[{ key: "payload" }, { key: "a b" }], 'payload["a b"]']
  ])("formats path %j as %s", (path, text) => {
    expect(formatPath(path)).toBe(text)
  })

  it("summarizes problems one per line", () => {
    expect(
      summarizeProblems([
        { index: 2, path: "topic", message: "topic must not be empty" },
        { index: null, path: "", message: "the batch is empty" }
      ])
    ).toBe("[2] topic: topic must not be empty\nthe batch is empty")
  })
})
