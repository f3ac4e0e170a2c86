/**
 * The event: its valibot schema and the type inferred from it, plus the stored form served by
 * GET /events. Validation only: nothing here hashes, dedups or stores.
 *
 * Decisions (see README):
 * - "characters" are Unicode code points (`[...s].length`), as JSON Schema `maxLength` and PostgreSQL
 *   `char_length` count them: 255 emoji pass although they are 510 UTF-16 units.
 * - Strings must be well-formed Unicode without U+0000 (PostgreSQL text and jsonb cannot hold either faithfully).
 * - Timestamps are normalized to the UTC instant with millisecond precision (JavaScript `Date`); sub-millisecond
 *   digits are accepted and truncated.
 * - Each field reports at most one problem, so a client sees one clear message per field.
 */
import * as v from "valibot"
import { objectMessage } from "./Issues.ts"
import { defaultLimits, type Limits } from "./Limits.ts"

/** The longest `topic`, `event_id` and `source`, in Unicode code points. */
export const MAX_TEXT_LENGTH = 255

// No whitespace (any Unicode White_Space, which includes U+00A0 and U+2003) and no control characters.
const TOPIC_FORBIDDEN = /[\s\p{Cc}]/u
// A surrogate not part of a pair (with the `u` flag a pair is one code point and does not match).
const LONE_SURROGATE = /\p{Cs}/u

const codePointLength = (s: string): number => {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // A high surrogate followed by a low one is one code point: do not count the low half.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--
        i++
      }
    }
  }
  return n
}

/** The one problem of a text field, or undefined. Cheap for ASCII: code points are only counted when needed. */
const textProblem = (name: string, s: string, forbidSpace: boolean): string | undefined => {
  if (s.length === 0) return `${name} must not be empty`
  // Code points never outnumber UTF-16 units, so short strings need no counting.
  if (s.length > MAX_TEXT_LENGTH) {
    const n = codePointLength(s)
    if (n > MAX_TEXT_LENGTH) return `${name} must be at most ${MAX_TEXT_LENGTH} characters (got ${n})`
  }
  if (forbidSpace && TOPIC_FORBIDDEN.test(s)) return `${name} must not contain whitespace or control characters`
  if (LONE_SURROGATE.test(s) || s.includes("\u0000")) return `${name} must be well-formed Unicode without U+0000`
  return undefined
}

const TEXT_DOCS = {
  topic: "1–255 Unicode code points; no whitespace (including U+00A0, U+2003) and no control characters.",
  event_id: "1–255 Unicode code points; unique within its topic.",
  source: "1–255 Unicode code points: who published the event."
}

// Only read by the JSON Schema export; valibot skips metadata when validating.
const textMetadata = (name: keyof typeof TEXT_DOCS) => ({
  minLength: 1,
  maxLength: MAX_TEXT_LENGTH,
  description: TEXT_DOCS[name]
})

const text = (name: keyof typeof TEXT_DOCS, forbidSpace: boolean) =>
  v.pipe(
    v.string(`${name} must be a string`),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return
      const problem = textProblem(name, dataset.value, forbidSpace)
      if (problem !== undefined) addIssue({ message: problem })
    }),
    v.metadata(textMetadata(name))
  )

/** A topic name: 1–255 characters, no whitespace or control characters. @category models */
export const Topic = text("topic", true)
/** @category models */
export type Topic = v.InferOutput<typeof Topic>

/** An event id, unique within its topic: 1–255 characters. @category models */
export const EventId = text("event_id", false)
/** @category models */
export type EventId = v.InferOutput<typeof EventId>

/** The publisher of an event: 1–255 characters. @category models */
export const Source = text("source", false)
/** @category models */
export type Source = v.InferOutput<typeof Source>

const ZONED_ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/
// The instants whose UTC ISO form has a 4-digit year 0001–9999 (PostgreSQL has no year 0).
const MIN_INSTANT = -62135596800000 // 0001-01-01T00:00:00.000Z
const MAX_INSTANT = 253402300799999 // 9999-12-31T23:59:59.999Z

const daysInMonth = (y: number, m: number): number =>
  m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31

/**
 * The instant denoted by a zoned ISO 8601 timestamp, or a message saying what is wrong. Checks the calendar and
 * the clock ourselves: `Date.parse` rolls "02-30" over to March and valibot's `isoTimestamp` does not check either.
 */
const parseInstant = (s: string): number | string => {
  const m = ZONED_ISO.exec(s)
  if (m === null) return "timestamp must be ISO 8601 with a zone (Z or ±hh:mm), e.g. 2026-11-21T10:00:00Z"
  const n = (i: number): number => (m[i] === undefined ? 0 : Number(m[i]))
  const [y, mo, d] = [n(1), n(2), n(3)]
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return "timestamp is not a real calendar date"
  if (n(4) > 23 || n(5) > 59 || n(6) > 59) return "timestamp is not a real time of day"
  if (n(7) > 23 || n(8) > 59) return "timestamp has an invalid zone offset"
  const t = Date.parse(s)
  if (Number.isNaN(t) || t < MIN_INSTANT || t > MAX_INSTANT) return "timestamp is out of range (years 0001–9999)"
  return t
}

const timestampMetadata = {
  format: "date-time",
  pattern: ZONED_ISO.source,
  description:
    "ISO 8601 date-time with a zone: `Z` or `±hh:mm` (a timestamp without a zone is rejected). Must be a real " +
    "calendar date and time of day (no Feb 30, 24:00 or leap second). Stored as the instant, returned as UTC " +
    "ISO with millisecond precision.",
  examples: ["2026-11-21T10:00:00.123Z", "2026-11-21T17:00:00+07:00"]
}

/**
 * An ISO 8601 timestamp with a zone (`Z` or `±hh:mm`), a real calendar date and clock time.
 * Normalized to the instant it denotes, as UTC ISO (`2026-11-21T03:00:00.000Z`).
 * @category models
 */
export const Timestamp = v.pipe(
  v.string("timestamp must be a string"),
  v.rawTransform<string, string>(({ dataset, addIssue, NEVER }) => {
    const t = parseInstant(dataset.value)
    if (typeof t === "string") {
      addIssue({ message: t })
      return NEVER
    }
    return new Date(t).toISOString()
  }),
  v.metadata(timestampMetadata)
)
/** @category models */
export type Timestamp = v.InferOutput<typeof Timestamp>

// Escapes JSON.stringify emits for U+0000 and for lone surrogates, when not themselves escaped ("\\u0000" in
// the data is the six characters `\u0000` and stringifies as `\\u0000`: an even run of backslashes).
const BAD_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f])/

/** The one problem of a payload, or undefined. Serializes it once. */
const payloadProblem = (x: unknown, maxBytes: number): string | undefined => {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return "payload must be a JSON object"
  let json: string
  try {
    json = JSON.stringify(x)
  } catch {
    // Too deeply nested (stack overflow), a BigInt or a cycle: none can come from JSON.parse of a small body.
    return "payload must be serializable as JSON"
  }
  // UTF-8 takes at least one byte per UTF-16 unit and at most three: only measure when it matters.
  if (json.length > maxBytes) return `payload must be at most ${maxBytes} bytes as JSON (got at least ${json.length})`
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json, "utf8")
    if (bytes > maxBytes) return `payload must be at most ${maxBytes} bytes as JSON (got ${bytes})`
  }
  // PostgreSQL jsonb cannot hold U+0000 nor a lone surrogate; refuse them here rather than fail at commit time.
  if (json.includes("\\u") && BAD_ESCAPE.test(json)) return "payload must not contain U+0000 or unpaired surrogates"
  return undefined
}

const payloadMetadata = (maxBytes: number) => ({
  type: "object",
  description: `Any JSON object (not an array or null); at most ${maxBytes} bytes serialized as JSON (UTF-8). Stored verbatim.`
})

/**
 * The JSON object an event carries, at most `maxBytes` bytes serialized as JSON (UTF-8). Returned as is, not
 * copied: keys such as `__proto__` and `constructor` stay own data properties, nothing is invoked.
 * @category constructors
 */
export const makePayload = (maxBytes: number) =>
  v.pipe(
    v.unknown(),
    v.rawCheck<unknown>(({ dataset, addIssue }) => {
      const problem = payloadProblem(dataset.value, maxBytes)
      if (problem !== undefined) addIssue({ message: problem })
    }),
    v.transform((x) => x as { readonly [key: string]: unknown }),
    v.metadata(payloadMetadata(maxBytes))
  )

const eventEntries = (maxPayloadBytes: number) => ({
  topic: Topic,
  event_id: EventId,
  timestamp: Timestamp,
  source: Source,
  payload: makePayload(maxPayloadBytes)
})

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x)

type EventObject = ReturnType<typeof eventObject>
const eventObject = (maxPayloadBytes: number) => v.object(eventEntries(maxPayloadBytes), objectMessage("event"))

/**
 * The event schema for the given limits. Extra top-level fields are dropped. Arrays are refused up front
 * (valibot's `object` would accept them and report every field as missing).
 * @category constructors
 */
export const makeEvent = (limits: Pick<Limits, "maxPayloadBytes"> = defaultLimits) =>
  v.pipe(
    v.custom<v.InferInput<EventObject>>(isPlainObject, "event must be a JSON object"),
    eventObject(limits.maxPayloadBytes),
    v.metadata({
      description: "One event. `(topic, event_id)` is the dedup key. Unknown top-level fields are dropped."
    })
  )

/** The event with the default limits. @category models */
export const Event = makeEvent()
/** A valid event: `timestamp` normalized to UTC. `(topic, event_id)` is its dedup key. @category models */
export type Event = v.InferOutput<typeof Event>
/** What a publisher sends, before normalization. @category models */
export type EventInput = v.InferInput<typeof Event>

// A served event was judged when it was published, under that server's limits (a payload may be larger than
// the defaults here): its fields are checked for their JSON type only, described as the input fields are.
const servedText = (name: keyof typeof TEXT_DOCS) =>
  v.pipe(v.string(`${name} must be a string`), v.metadata(textMetadata(name)))
const servedTimestamp = (name: string) => v.pipe(v.string(`${name} must be a string`), v.metadata(timestampMetadata))

/**
 * An event as stored and served back: its gap-free per-topic `offset` (from 1) and when it was received.
 * The schema validates GET /events answers (e.g. in a client: the shape, not the input rules again) and feeds
 * the JSON Schema export.
 * @category models
 */
export const StoredEvent = v.object(
  {
    topic: servedText("topic"),
    event_id: servedText("event_id"),
    timestamp: servedTimestamp("timestamp"),
    source: servedText("source"),
    payload: v.pipe(
      v.unknown(),
      v.check(isPlainObject, "payload must be a JSON object"),
      v.transform((x) => x as { readonly [key: string]: unknown }),
      v.metadata(payloadMetadata(defaultLimits.maxPayloadBytes))
    ),
    offset: v.pipe(
      v.number("offset must be a number"),
      v.safeInteger("offset must be an integer"),
      v.minValue(1, "offset must be at least 1"),
      v.metadata({ description: "The event's gap-free position in its topic, from 1." })
    ),
    received_at: v.pipe(
      servedTimestamp("received_at"),
      v.metadata({ description: "When the service accepted the event, UTC ISO with millisecond precision." })
    ),
    position: v.exactOptional(
      v.pipe(
        v.number("position must be a number"),
        v.safeInteger("position must be an integer"),
        v.minValue(1, "position must be at least 1"),
        v.metadata({
          description:
            "Only in reads of all topics: the event's place in the all-topics order, strictly rising; pass the last one back as `after`."
        })
      )
    )
  },
  objectMessage("stored event")
)
/** @category models */
export interface StoredEvent extends Event {
  readonly offset: number
  readonly received_at: string
  /** Set in reads of all topics only: the event's place in the all-topics order. */
  readonly position?: number
}
