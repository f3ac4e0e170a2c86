/**
 * The event of SPEC §3: its valibot schema and the type inferred from it, plus the stored form served by
 * GET /events. Validation only: nothing here hashes, dedups or stores.
 */
import * as v from "valibot"
import { defaultLimits, type Limits } from "./Limits.ts"

// No whitespace (any Unicode space) and no control characters anywhere in a topic.
const TOPIC_FORBIDDEN = /[\s\p{Cc}]/u
const ZONED_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/

// valibot's isoTimestamp accepts "2026-02-30": Date.UTC would roll it over, so check the calendar ourselves.
const isCalendarDate = (s: string): boolean => {
  const [y, m, d] = s.slice(0, 10).split("-").map(Number) as [number, number, number]
  const date = new Date(Date.UTC(y, m - 1, d))
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d
}
const isValidClock = (s: string): boolean => {
  const [h, min, sec] = s.slice(11, 19).split(":").map(Number) as [number, number, number | undefined]
  return h <= 23 && min <= 59 && (sec === undefined || Number.isNaN(sec) || sec <= 59)
}

const boundedString = (name: string) =>
  v.pipe(
    v.string(`${name} must be a string`),
    v.minLength(1, `${name} must not be empty`),
    v.maxLength(255, `${name} must be at most 255 characters`)
  )

/** A topic name: 1–255 characters, no whitespace or control characters. @category models */
export const Topic = v.pipe(
  boundedString("topic"),
  v.check((s) => !TOPIC_FORBIDDEN.test(s), "topic must not contain whitespace or control characters")
)
/** @category models */
export type Topic = v.InferOutput<typeof Topic>

/** An event id, unique within its topic: 1–255 characters. @category models */
export const EventId = boundedString("event_id")
/** @category models */
export type EventId = v.InferOutput<typeof EventId>

/**
 * An ISO 8601 timestamp with a zone (`Z` or `±hh:mm`), a real calendar date and clock time.
 * Normalized to the instant it denotes, as UTC ISO (`2026-11-21T03:00:00.000Z`).
 * @category models
 */
export const Timestamp = v.pipe(
  v.string("timestamp must be a string"),
  v.regex(ZONED_ISO, "timestamp must be ISO 8601 with a zone (Z or ±hh:mm)"),
  v.check(isCalendarDate, "timestamp is not a real calendar date"),
  v.check(isValidClock, "timestamp is not a real time of day"),
  v.transform((s) => new Date(s).toISOString())
)

/** The JSON object an event carries, limited in serialized size. @category constructors */
export const makePayload = (maxBytes: number) =>
  v.pipe(
    v.unknown(),
    // v.record accepts arrays; a payload must be a plain JSON object.
    v.check((x) => typeof x === "object" && x !== null && !Array.isArray(x), "payload must be a JSON object"),
    v.check(
      (x) => Buffer.byteLength(JSON.stringify(x), "utf8") <= maxBytes,
      `payload must be at most ${maxBytes} bytes as JSON`
    ),
    // PostgreSQL jsonb cannot hold U+0000; refuse it here rather than fail at commit time.
    v.check((x) => !JSON.stringify(x).includes("\\u0000"), "payload must not contain U+0000 characters"),
    v.transform((x) => x as { readonly [key: string]: unknown })
  )

/** The event schema for the given limits (extra top-level fields are dropped). @category constructors */
export const makeEvent = (limits: Pick<Limits, "maxPayloadBytes"> = defaultLimits) =>
  v.object(
    {
      topic: Topic,
      event_id: EventId,
      timestamp: Timestamp,
      source: boundedString("source"),
      payload: makePayload(limits.maxPayloadBytes)
    },
    "event must be a JSON object"
  )

/** The event of SPEC §3 with the default limits. @category models */
export const Event = makeEvent()
/** A valid event: `timestamp` normalized to UTC. `(topic, event_id)` is its dedup key. @category models */
export type Event = v.InferOutput<typeof Event>
/** What a publisher sends, before normalization. @category models */
export type EventInput = v.InferInput<typeof Event>

/** An event as stored and served back: its gap-free per-topic `offset` (from 1) and when it was received. @category models */
export interface StoredEvent extends Event {
  readonly offset: number
  readonly received_at: string
}
