/**
 * The body of POST /publish (SPEC §4): one event, an array of events, or `{"events": [...]}`, normalized to
 * `ReadonlyArray<Event>`. All-or-nothing: either every event is valid, or the problems are listed (the first
 * `MAX_LISTED_PROBLEMS` of them, with the count of all).
 *
 * On the hot path: the batch size is checked before any event is validated, each event is validated once, and
 * nothing is copied beyond what valibot's `object` builds. Does not parse JSON, measure the body in bytes or
 * pick HTTP statuses (the API maps `kind`: invalid/empty → 400, too_many → 413).
 */
import * as v from "valibot"
import { type Event, type EventInput, makeEvent } from "./Event.ts"
import { type Problem, toProblems } from "./Issues.ts"
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
  return (input: unknown): PublishBodyResult => {
    const items = itemsOf(input)
    if (!Array.isArray(items)) return items as PublishBodyResult
    if (items.length === 0) return refuse("empty", "", "the batch is empty: send at least one event")
    if (items.length > max) {
      return refuse("too_many", "", `the batch has ${items.length} events; at most ${max} are allowed per request`)
    }
    const events: Array<Event> = new Array(items.length)
    let issues: Array<Problem> | undefined
    let issueCount = 0
    for (let i = 0; i < items.length; i++) {
      const result = v.safeParse(schema, items[i])
      if (result.success) events[i] = result.output
      else {
        const found = toProblems(result.issues, i)
        issueCount += found.length
        issues ??= []
        for (let j = 0; j < found.length && issues.length < MAX_LISTED_PROBLEMS; j++) issues.push(found[j]!)
      }
    }
    if (issues === undefined) return { ok: true, events }
    return issueCount > issues.length ? { ok: false, kind: "invalid", issues, issueCount } : { ok: false, kind: "invalid", issues }
  }
}

const parsers = new WeakMap<object, (input: unknown) => PublishBodyResult>()

/**
 * Parse a publish body (e.g. the result of `JSON.parse`) with the given limits. Parsers are cached per limits
 * object, so pass the same object on every call (or hold on to `makePublishBody(limits)`).
 * @category constructors
 */
export const parsePublishBody = (
  input: unknown,
  limits: Pick<Limits, "maxPayloadBytes" | "maxEventsPerRequest"> = defaultLimits
): PublishBodyResult => {
  let parse = parsers.get(limits)
  if (parse === undefined) {
    parse = makePublishBody(limits)
    parsers.set(limits, parse)
  }
  return parse(input)
}
