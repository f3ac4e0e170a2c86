/**
 * The format of one stream entry: fields `v` (schema version, "1") and `e` (the event as JSON). Encoding and
 * decoding in one place, so a future version 2 is added here and version 1 entries still decode.
 *
 * @remarks Decoding never throws: anything unreadable becomes an `Undecodable` entry with the reason.
 */
import type { EventLog } from "@agg/core"
import { type Event, makeEvent } from "@agg/schema"
import * as v from "valibot"

/** The current schema version written by `encode`. */
export const VERSION = "1"

/** Stream fields of an event. */
export const encode = (event: Event): Record<string, string> => ({ v: VERSION, e: JSON.stringify(event) })

// The API enforced its configured payload limit before appending; decoding re-validates the shape only.
const EventV1 = makeEvent({ maxPayloadBytes: Number.MAX_SAFE_INTEGER })

const issuesOf = (issues: ReadonlyArray<v.BaseIssue<unknown>>): string =>
  issues.map((i) => `${v.getDotPath(i) ?? "(event)"}: ${i.message}`).join("; ")

/** Decode the fields of entry `id` of `stream` into a `LogEntry` with the given delivery count. */
export const decode = (
  stream: string,
  id: string,
  fields: Readonly<Record<string, string>>,
  deliveries: number
): EventLog.LogEntry => {
  const undecodable = (reason: string): EventLog.LogEntry => ({ _tag: "Undecodable", stream, id, deliveries, reason })
  const version = fields.v
  if (version === undefined) return undecodable("entry has no schema version field 'v'")
  if (version !== VERSION) return undecodable(`unknown schema version ${JSON.stringify(version)}`)
  const text = fields.e
  if (text === undefined) return undecodable("entry has no event field 'e'")
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    return undecodable(`event is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
  const parsed = v.safeParse(EventV1, json)
  return parsed.success
    ? { _tag: "Event", stream, id, deliveries, event: parsed.output }
    : undecodable(`invalid event: ${issuesOf(parsed.issues)}`)
}
