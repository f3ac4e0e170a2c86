/**
 * The body of POST /publish: one event, an array of events, or `{"events": [...]}`, normalized to
 * `ReadonlyArray<Event>`. All-or-nothing: either every event is valid, or the problems are listed (the first
 * `MAX_LISTED_PROBLEMS` of them, with the count of all).
 *
 * On the hot path: the batch size is checked before any event is validated, each event is validated once, and
 * nothing is copied beyond what valibot's `object` builds. Given the JSON text the body was parsed from, a number
 * in a payload that a JavaScript number cannot hold exactly (`1e400`, 2^64+1, 300 digits; see `JsonNumbers`) is a
 * problem too, at its path: stored, it would silently be another value. Does not parse JSON, measure the body in
 * bytes or pick HTTP statuses (the API maps `kind`: invalid/empty → 400, too_many → 413).
 */
import * as v from "valibot"
import { type Event, type EventInput, makeEvent } from "./Event.ts"
import { formatPath, type Problem, toProblems } from "./Issues.ts"
import { inexactNumbers } from "./JsonNumbers.ts"
import { defaultLimits, type Limits } from "./Limits.ts"

/** What a publisher may send: one event, an array of events, or `{"events": [...]}`. @category models */
export type PublishBody = EventInput | ReadonlyArray<EventInput> | { readonly events: ReadonlyArray<EventInput> }

/**
 * Why a body was refused: `invalid` (not one of the three shapes, or some event is invalid), `empty` (no event),
 * `too_many` (more than `maxEventsPerRequest` events; no event was validated).
 * @category models
 */
export type PublishBodyErrorKind = "invalid" | "empty" | "too_many"

/** The outcome of parsing a publish body. @category models */
export type PublishBodyResult =
  | { readonly ok: true; readonly events: ReadonlyArray<Event> }
  | {
      readonly ok: false
      readonly kind: PublishBodyErrorKind
      /** The first problems found, at most `MAX_LISTED_PROBLEMS`, in batch order. */
      readonly issues: Array<Problem>
      /** How many problems there are in all; present only when `issues` had to leave some out. */
      readonly issueCount?: number
    }

/**
 * Most problems a refusal lists: a small body of many broken events (10,000 `{}`) must not make a large answer.
 * The count of all of them is given beside the list.
 * @category models
 */
export const MAX_LISTED_PROBLEMS = 100

const SHAPES = 'body must be an event object, an array of events, or {"events": [...]}'

const refuse = (kind: PublishBodyErrorKind, path: string, message: string): PublishBodyResult => ({
  ok: false,
  kind,
  issues: [{ index: null, path, message }]
})

/**
 * The items of a body, or why it has none. An object with an `events` key holding an array is the wrapper; an
 * object with an `events` key but no `topic` is a malformed wrapper; any other object is a single event.
 */
const itemsOf = (input: unknown): ReadonlyArray<unknown> | PublishBodyResult => {
  if (Array.isArray(input)) return input
  if (typeof input !== "object" || input === null) return refuse("invalid", "", SHAPES)
  if (Object.hasOwn(input, "events")) {
    const events = (input as { readonly events: unknown }).events
    if (Array.isArray(events)) return events
    if (!Object.hasOwn(input, "topic")) return refuse("invalid", "events", "events must be an array of events")
  }
  return [input]
}

/**
 * A parser of publish bodies for the given limits (the event schema is built once, here).
 * @category constructors
 */
export const makePublishBody = (limits: Pick<Limits, "maxPayloadBytes" | "maxEventsPerRequest"> = defaultLimits) => {
  const schema = makeEvent(limits)
  const max = limits.maxEventsPerRequest
  /** `source`: the JSON text `input` was parsed from, when there is one (its numbers are then checked). */
  return (input: unknown, source?: string): PublishBodyResult => {
    const items = itemsOf(input)
    if (!Array.isArray(items)) return items as PublishBodyResult
    if (items.length === 0) return refuse("empty", "", "the batch is empty: send at least one event")
    if (items.length > max) {
      return refuse("too_many", "", `the batch has ${items.length} events; at most ${max} are allowed per request`)
    }
    const events: Array<Event> = new Array(items.length)
    let issues: Array<Problem> | undefined
    let issueCount = 0
    const add = (found: ReadonlyArray<Problem>) => {
      if (found.length === 0) return
      issueCount += found.length
      issues ??= []
      for (let j = 0; j < found.length && issues.length < MAX_LISTED_PROBLEMS; j++) issues.push(found[j]!)
    }
    for (let i = 0; i < items.length; i++) {
      const result = v.safeParse(schema, items[i])
      if (result.success) events[i] = result.output
      else add(toProblems(result.issues, i))
    }
    if (source !== undefined)
      add(numberProblems(source, Array.isArray(input) ? 0 : items === (input as { events?: unknown }).events ? 1 : -1))
    if (issues === undefined) return { ok: true, events }
    return issueCount > issues.length
      ? { ok: false, kind: "invalid", issues, issueCount }
      : { ok: false, kind: "invalid", issues }
  }
}

// Where the events sit in the body: 0 an array (`[i]…`), 1 the wrapper (`events[i]…`), -1 one event (`…`).
const numberProblems = (source: string, shape: -1 | 0 | 1): Array<Problem> => {
  const out: Array<Problem> = []
  for (const { segments, literal } of inexactNumbers(source)) {
    const index = shape === -1 ? 0 : shape === 0 ? segments[0] : segments[0] === "events" ? segments[1] : undefined
    const path = segments.slice(shape + 1)
    // Numbers outside the events' payloads: other members are refused (or dropped) by the shape and the schema.
    if (typeof index !== "number" || path[0] !== "payload") continue
    const shown = literal.length > 40 ? `${literal.slice(0, 37)}...` : literal
    out.push({
      index,
      path: formatPath(path.map((key) => ({ key }))),
      message:
        `the number ${shown} cannot be stored exactly: numbers must keep their value as an IEEE 754 double ` +
        "(at most 15–17 significant digits, magnitude below 1.8e308, not below 5e-324)"
    })
  }
  return out
}

const parsers = new WeakMap<object, ReturnType<typeof makePublishBody>>()

/**
 * Parse a publish body (e.g. the result of `JSON.parse`) with the given limits; with `source`, the JSON text it
 * was parsed from, its payloads' numbers are checked too. Parsers are cached per limits object, so pass the same
 * object on every call (or hold on to `makePublishBody(limits)`).
 * @category constructors
 */
export const parsePublishBody = (
  input: unknown,
  limits: Pick<Limits, "maxPayloadBytes" | "maxEventsPerRequest"> = defaultLimits,
  source?: string
): PublishBodyResult => {
  let parse = parsers.get(limits)
  if (parse === undefined) {
    parse = makePublishBody(limits)
    parsers.set(limits, parse)
  }
  return parse(input, source)
}
