import * as v from "valibot"
import { describe, expect, it } from "vitest"
import {
  checkResponse,
  ErrorBody,
  EventsPage,
  HealthBody,
  makeErrorBody,
  PublishCommitted,
  PublishQueued,
  PublishReply,
  StatsBody,
  StoredEvent,
  toProblems
} from "../src/index.ts"

const served = {
  topic: "orders",
  event_id: "e-42",
  timestamp: "2026-11-21T10:00:00.123Z",
  source: "checkout-svc",
  payload: { amount: 500 },
  offset: 3,
  received_at: "2026-11-21T10:00:01.000Z"
}

const stats = {
  received: 10,
  unique_processed: 7,
  duplicate_dropped: 3,
  conflicts: 1,
  pending: 0,
  dead_lettered: 0,
  topics: ["orders"],
  per_topic: { orders: { unique_processed: 7, duplicate_dropped: 3, conflicts: 1 } },
  uptime_seconds: 12
}

const paths = (schema: v.GenericSchema, input: unknown) => {
  const result = v.safeParse(schema, input)
  return result.success ? [] : toProblems(result.issues).map((p) => `${p.path}: ${p.message}`)
}

// A body, and the problems expected ("path: message"), none when it matches.
type Case = readonly [name: string, schema: v.GenericSchema, body: unknown, problems: ReadonlyArray<string>]

const cases: ReadonlyArray<Case> = [
  ["publish 200", PublishCommitted, { accepted: 2, unique: 1, duplicates: 1 }, []],
  [
    "publish 200 without duplicates",
    PublishCommitted,
    { accepted: 2, unique: 2 },
    ["duplicates: duplicates is required"]
  ],
  ["publish 202", PublishQueued, { accepted: 500 }, []],
  ["publish 202 with a fractional count", PublishQueued, { accepted: 1.5 }, ["accepted: accepted must be an integer"]],
  ["publish reply, either mode", PublishReply, { accepted: 1 }, []],
  [
    "publish reply without accepted",
    PublishReply,
    { unique: 1 },
    [
      // every alternative's problems: the 200 form's, then the 202 form's
      "accepted: accepted is required",
      "duplicates: duplicates is required",
      "accepted: accepted is required"
    ]
  ],
  ["stats as served", StatsBody, stats, []],
  [
    "seed-style stats (no dead_lettered, no per_topic)",
    StatsBody,
    { received: 0, unique_processed: 0, duplicate_dropped: 0, conflicts: 0, pending: 0, topics: [], uptime_seconds: 0 },
    []
  ],
  ["stats with a negative count", StatsBody, { ...stats, pending: -1 }, ["pending: pending must be at least 0"]],
  ["stats with a count as text", StatsBody, { ...stats, received: "10" }, ["received: received must be a number"]],
  ["stats without topics", StatsBody, { ...stats, topics: undefined }, ["topics: topics must be an array"]],
  [
    "stats with a broken per-topic entry",
    StatsBody,
    { ...stats, per_topic: { orders: { unique_processed: 7, duplicate_dropped: 3 } } },
    ["per_topic.orders.conflicts: conflicts is required"]
  ],
  ["page of one topic", EventsPage, { events: [served], next_after: 3 }, []],
  ["page of all topics", EventsPage, { events: [{ ...served, position: 17 }], next_after: 17 }, []],
  ["empty page: next_after is the given after", EventsPage, { events: [], next_after: 0 }, []],
  [
    "page with next_after null",
    EventsPage,
    { events: [], next_after: null },
    ["next_after: next_after must be a number"]
  ],
  ["page without next_after", EventsPage, { events: [served] }, ["next_after: next_after is required"]],
  [
    "page whose events are not an array",
    EventsPage,
    { events: {}, next_after: 1 },
    ["events: events must be an array"]
  ],
  [
    "page with a bad event",
    EventsPage,
    { events: [served, { ...served, offset: 0, payload: [] }], next_after: 1 },
    ["events[1].payload: payload must be a JSON object", "events[1].offset: offset must be at least 1"]
  ],
  [
    "page with a bad position",
    EventsPage,
    { events: [{ ...served, position: "17" }], next_after: 17 },
    ["events[0].position: position must be a number"]
  ],
  ["health, direct mode", HealthBody, { status: "ok", mode: "direct", checks: { store: { status: "up" } } }, []],
  [
    "health, queued mode, stream down",
    HealthBody,
    {
      status: "unavailable",
      mode: "queued",
      checks: { store: { status: "up" }, stream: { status: "down", error: "unreachable" } }
    },
    []
  ],
  [
    "health with an unknown state",
    HealthBody,
    { status: "ok", mode: "direct", checks: { store: { status: "sideways" } } },
    ['checks.store.status: status must be "up" or "down"']
  ],
  ["health without checks", HealthBody, { status: "ok", mode: "direct" }, ["checks: checks is required"]],
  ["error", ErrorBody, { error: { code: "unsupported_media_type", message: "Content-Type must be JSON" } }, []],
  [
    "error with issues",
    ErrorBody,
    {
      error: {
        code: "invalid_events",
        message: "refused",
        issues: [
          { index: 0, path: "topic", message: "topic must not be empty" },
          { index: null, path: "limit", message: "limit must be at most 1000" }
        ]
      }
    },
    []
  ],
  [
    "error with a bad issue",
    ErrorBody,
    { error: { code: "invalid_events", message: "refused", issues: [{ index: "0", path: "topic", message: "x" }] } },
    ["error.issues[0].index: index must be a number"]
  ],
  ["flat error (not the API's)", ErrorBody, { code: "NOT_FOUND" }, ["error: error is required"]],
  [
    "error with an unlisted code",
    makeErrorBody(["invalid_events"]),
    { error: { code: "teapot", message: "x" } },
    ["error.code: code must be a known error code"]
  ]
]

describe("response bodies", () => {
  it.each(cases)("%s", (_name, schema, body, problems) => {
    expect(paths(schema, body)).toEqual(problems)
  })

  it("keep the members they know and drop the others", () => {
    const parsed: StatsBody = v.parse(StatsBody, { ...stats, not_a_member: 4 })
    expect(parsed).toEqual(stats)
    const page: EventsPage = v.parse(EventsPage, { events: [{ ...served, position: 5 }], next_after: 5, extra: 1 })
    expect(page).toEqual({ events: [{ ...served, position: 5 }], next_after: 5 })
    expect("position" in v.parse(EventsPage, { events: [served], next_after: 3 }).events[0]!).toBe(false)
  })

  it("check a served event's shape, not the input rules again (the server's limits may be larger)", () => {
    const big = { ...served, payload: { blob: "x".repeat(200 * 1024) }, topic: "with space" }
    expect(v.safeParse(StoredEvent, big).success).toBe(true)
    // still exactly as served: nothing normalized
    expect(v.parse(StoredEvent, { ...served, timestamp: "2026-11-21T17:00:00+07:00" }).timestamp).toBe(
      "2026-11-21T17:00:00+07:00"
    )
  })

  it("tell the two publish answers apart", () => {
    expect(v.parse(PublishReply, { accepted: 3, unique: 2, duplicates: 1 })).toEqual({
      accepted: 3,
      unique: 2,
      duplicates: 1
    })
    expect(v.parse(PublishReply, { accepted: 3 })).toEqual({ accepted: 3 })
  })
})

describe("checkResponse", () => {
  it("gives the typed value, or every problem with its path", () => {
    expect(checkResponse(PublishQueued, { accepted: 2, extra: true })).toEqual({ ok: true, value: { accepted: 2 } })
    expect(checkResponse(EventsPage, { events: [], next_after: null })).toEqual({
      ok: false,
      problems: [{ index: null, path: "next_after", message: "next_after must be a number" }]
    })
  })
})
