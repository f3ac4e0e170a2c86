/**
 * Deterministic load for the publisher: `events` events over `topics` topics, of which an exact share are
 * duplicates (byte-identical resends of another event of the run), shuffled, cut into batches, plus the truth
 * the server must end with (unique events per topic, duplicate count).
 *
 * Same options → same output (mulberry32 seeded PRNG, no clock). Topic names and event ids embed `runId`, so a
 * run's topics never collide with earlier data on the same server and verification can be exact.
 * Deliberately not here: conflicting resends (same key, different content) and invalid events.
 */
import type { EventInput } from "@agg/schema"

/** Options of {@link generate}. @category models */
export interface GeneratorOptions {
  /** Total events to send, duplicates included (>= 1). */
  readonly events: number
  /** Number of topics (>= 1); topic k is named `t<k>-<runId>`. */
  readonly topics: number
  /** Share of `events` that are duplicates, in [0, 1]; the count is `round(events * ratio)`, capped at events - 1. */
  readonly duplicateRatio: number
  /** Events per batch (>= 1). */
  readonly batchSize: number
  readonly seed: number
  /** Distinguishes this run's topics and ids from any earlier run on the same server. */
  readonly runId: string
  /** The `source` of every event (default "agg-publisher"). */
  readonly source?: string | undefined
}

/** What the server must hold once every batch is processed. @category models */
export interface Truth {
  /** Distinct events (distinct `(topic, event_id)`). */
  readonly unique: number
  /** Resends: `events - unique`. */
  readonly duplicates: number
  /** For each topic, its distinct event ids (in generation order); every topic of the run is present. */
  readonly perTopic: ReadonlyMap<string, ReadonlyArray<string>>
  /** The distinct events by `topic + "\n" + event_id`, to compare content on read-back. */
  readonly byKey: ReadonlyMap<string, EventInput>
}

/** A generated run. @category models */
export interface Generated {
  readonly batches: ReadonlyArray<ReadonlyArray<EventInput>>
  readonly truth: Truth
}

/** mulberry32: a small, fast 32-bit seeded PRNG; returns a uniform [0, 1) source. @category constructors */
export const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Shuffle `items` in place (Fisher–Yates) with `random`, a [0, 1) source such as {@link mulberry32}: the same
 * source state gives the same order. @category constructors
 */
export const shuffle = <A>(items: Array<A>, random: () => number): void => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = items[i] as A
    items[i] = items[j] as A
    items[j] = tmp
  }
}

/** The key the server dedups on, as one string. @category constructors */
export const keyOf = (event: { readonly topic: string; readonly event_id: string }) =>
  `${event.topic}\n${event.event_id}`

/** The number of duplicates {@link generate} produces for these options. @category constructors */
export const duplicateCount = (events: number, ratio: number) => Math.min(Math.round(events * ratio), events - 1)

const check = (ok: boolean, message: string) => {
  if (!ok) throw new RangeError(`generate: ${message}`)
}

// A fixed epoch keeps the output independent of the wall clock; one millisecond per event keeps timestamps distinct.
const EPOCH = Date.UTC(2026, 0, 1)

/**
 * Generates a run. Throws a `RangeError` naming the bad option.
 * @category constructors
 */
export const generate = (options: GeneratorOptions): Generated => {
  const { events, topics, duplicateRatio, batchSize, seed, runId } = options
  check(Number.isInteger(events) && events >= 1, `events must be an integer >= 1, got ${events}`)
  check(Number.isInteger(topics) && topics >= 1, `topics must be an integer >= 1, got ${topics}`)
  check(duplicateRatio >= 0 && duplicateRatio <= 1, `duplicateRatio must be in [0, 1], got ${duplicateRatio}`)
  check(Number.isInteger(batchSize) && batchSize >= 1, `batchSize must be an integer >= 1, got ${batchSize}`)
  check(
    runId.length > 0 && !/\s/.test(runId),
    `runId must be non-empty without whitespace, got ${JSON.stringify(runId)}`
  )
  const random = mulberry32(seed)
  const source = options.source ?? "agg-publisher"
  const duplicates = duplicateCount(events, duplicateRatio)
  const unique = events - duplicates

  const topicNames = Array.from({ length: topics }, (_, k) => `t${k}-${runId}`)
  const perTopic = new Map<string, Array<string>>(topicNames.map((t) => [t, []]))
  const byKey = new Map<string, EventInput>()
  const all: Array<EventInput> = []
  for (let i = 0; i < unique; i++) {
    // Round-robin on the first pass so every topic gets events even when unique is small; random afterwards.
    const topic = topicNames[i < topics ? i : Math.floor(random() * topics)] as string
    const event: EventInput = {
      topic,
      event_id: `${runId}-${i}`,
      timestamp: new Date(EPOCH + i).toISOString(),
      source,
      payload: { n: i, value: Math.floor(random() * 1_000_000) }
    }
    perTopic.get(topic)?.push(event.event_id)
    byKey.set(keyOf(event), event)
    all.push(event)
  }
  for (let d = 0; d < duplicates; d++) {
    // A duplicate is the same event again: the same JSON goes on the wire.
    all.push(all[Math.floor(random() * unique)] as EventInput)
  }
  shuffle(all, random)
  const batches: Array<ReadonlyArray<EventInput>> = []
  for (let i = 0; i < all.length; i += batchSize) batches.push(all.slice(i, i + batchSize))
  return { batches, truth: { unique, duplicates, perTopic, byKey } }
}
