/**
 * Deterministic workloads for the end-to-end tests: a list of events to send, in which a given share are exact
 * repeats of earlier events (the at-least-once channel), shuffled by a seeded generator, plus the set of unique
 * keys per topic that must end up stored.
 *
 * Deliberately does not send anything: the publisher library does that.
 */
import { mulberry32, shuffle } from "@agg/publisher"

/** An event as sent on the wire. */
export interface WireEvent {
  readonly topic: string
  readonly event_id: string
  readonly timestamp: string
  readonly source: string
  readonly payload: { readonly [key: string]: unknown }
}

/** What a workload must leave in the store: for each topic, its unique event ids. */
export interface Workload {
  readonly events: ReadonlyArray<WireEvent>
  readonly unique: number
  readonly duplicates: number
  readonly expected: ReadonlyMap<string, ReadonlySet<string>>
}

/**
 * `total` events over `topics` topics named `<prefix>-t<i>`, of which `round(total * duplicateRatio)` repeat an
 * earlier unique event byte for byte. Ids carry `prefix` so workloads of one test file never collide.
 */
export const makeWorkload = (options: {
  readonly prefix: string
  readonly total: number
  readonly duplicateRatio: number
  readonly topics: number
  readonly seed: number
}): Workload => {
  const { prefix, total, topics } = options
  const rand = mulberry32(options.seed)
  const duplicates = Math.round(total * options.duplicateRatio)
  const unique = total - duplicates
  const originals: Array<WireEvent> = Array.from({ length: unique }, (_, i) => ({
    topic: `${prefix}-t${i % topics}`,
    event_id: `${prefix}-e${i}`,
    timestamp: new Date(Date.UTC(2026, 10, 21, 10, 0, 0, i % 1000)).toISOString(),
    source: "e2e",
    payload: { i, note: "x".repeat(i % 50) }
  }))
  const events = [...originals]
  for (let d = 0; d < duplicates; d++) events.push(originals[Math.floor(rand() * unique)] as WireEvent)
  // A duplicate may arrive before its "original"; either copy may be the one stored first.
  shuffle(events, rand)
  const expected = new Map<string, Set<string>>()
  for (const event of originals) {
    const ids = expected.get(event.topic) ?? new Set<string>()
    ids.add(event.event_id)
    expected.set(event.topic, ids)
  }
  return { events, unique, duplicates, expected }
}
