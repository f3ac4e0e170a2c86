/**
 * An in-memory `EventStore` with the semantics of the PostgreSQL one: each commit is atomic (planned with
 * `CommitPlan` and applied in one synchronous step, so no other commit interleaves), dedup by `(topic, event_id)`
 * with content hashes, recognised delivery ids, gap-free per-topic offsets, per-topic counters.
 *
 * For tests and embedding. Not durable: everything is lost with the process. `fault` lets a test make an
 * operation fail (or die) without a special port.
 */

import type { StoredEvent } from "@agg/schema"
import { Clock, Duration, Effect, Layer } from "effect"
import { plan } from "../CommitPlan.ts"
import { type EntryRef, isBelow, refKey } from "../EventLog.ts"
import type { Delivery } from "../EventStore.ts"
import { EventStore, EventStoreError, type ReadQuery, type TopicStats } from "../EventStore.ts"
import { sumTopics } from "../Stats.ts"

/** Options of `make`. @category models */
export interface Options {
  /**
   * Runs before every operation; a failure (or defect) replaces the operation, which then changes nothing.
   * `batch` is the commit's batch, empty for `committed`, `read` and `stats`.
   */
  readonly fault?: (
    operation: "commit" | "committed" | "read" | "stats" | "forget",
    batch: ReadonlyArray<Delivery>
  ) => Effect.Effect<void, EventStoreError>
}

interface Counters {
  unique: number
  duplicates: number
  conflicts: number
}

const invalidQuery = (message: string) =>
  new EventStoreError({ operation: "read", retryable: false, message: `invalid read query: ${message}` })

/**
 * A fresh, empty store.
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<EventStore["Service"]> =>
  Effect.sync(() => {
    const all: Array<StoredEvent> = [] // storage order: position = index + 1
    const byTopic = new Map<string, Array<StoredEvent>>() // offset = index + 1
    const hashes = new Map<string, string>()
    const committed = new Map<string, { readonly ref: EntryRef; readonly atMillis: number }>()
    const counters = new Map<string, Counters>()
    const fault = options.fault ?? (() => Effect.void)

    const commit = (batch: ReadonlyArray<Delivery>) =>
      Effect.gen(function* () {
        yield* fault("commit", batch)
        if (batch.length === 0) return []
        const nowMillis = yield* Clock.currentTimeMillis
        const receivedAt = new Date(nowMillis).toISOString()
        // From here to the end nothing yields: the plan and its application form one atomic step.
        const p = plan(
          batch,
          { hashOf: (key) => hashes.get(key), isCommitted: (id) => committed.has(id) },
          (topic) => counters.get(topic)?.unique ?? 0
        )
        for (const row of p.inserts) {
          const event = row.delivery.event
          const stored: StoredEvent = { ...event, offset: row.offset, received_at: receivedAt }
          all.push(stored)
          const list = byTopic.get(event.topic) ?? []
          byTopic.set(event.topic, list)
          list.push(stored)
          hashes.set(`${event.topic}\u0000${event.event_id}`, row.hash)
        }
        for (const change of p.topics) {
          const c = counters.get(change.topic) ?? { unique: 0, duplicates: 0, conflicts: 0 }
          counters.set(change.topic, c)
          c.unique += change.addUnique
          c.duplicates += change.addDuplicates
          c.conflicts += change.addConflicts
        }
        for (const ref of p.deliveryIds) committed.set(refKey(ref), { ref, atMillis: nowMillis })
        return p.outcomes
      })

    const isCommitted = (deliveryIds: ReadonlyArray<EntryRef>) =>
      Effect.gen(function* () {
        yield* fault("committed", [])
        return new Set(deliveryIds.map(refKey).filter((key) => committed.has(key))) as ReadonlySet<string>
      })

    const read = (query: ReadQuery) =>
      Effect.gen(function* () {
        yield* fault("read", [])
        const { after, limit } = query
        if (!Number.isSafeInteger(after) || after < 0) return yield* invalidQuery(`after must be an integer >= 0`)
        if (!Number.isSafeInteger(limit) || limit < 1) return yield* invalidQuery(`limit must be an integer >= 1`)
        // Both lists are dense (index = position - 1), so a page is a slice.
        const events =
          query.topic === undefined
            ? all.slice(after, after + limit).map((e, i) => ({ ...e, position: after + i + 1 }))
            : (byTopic.get(query.topic) ?? []).slice(after, after + limit)
        return { events, nextAfter: after + events.length }
      })

    const forget = (floor: EntryRef, options: { readonly olderThan: Duration.Duration }) =>
      Effect.gen(function* () {
        yield* fault("forget", [])
        const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(options.olderThan)
        let n = 0
        for (const [key, { ref, atMillis }] of committed) {
          if (ref.stream === floor.stream && atMillis <= cutoff && isBelow(ref.id, floor.id)) {
            committed.delete(key)
            n++
          }
        }
        return n
      })

    const stats = Effect.gen(function* () {
      yield* fault("stats", [])
      const topics: Array<TopicStats> = [...counters.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([topic, c]) => ({ topic, ...c }))
      return sumTopics(topics)
    })

    return EventStore.of({ commit, committed: isCommitted, read, stats, forget })
  })

/** A layer with a fresh store. @category layers */
export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make())

/** A layer with a fresh store and options (e.g. a `fault`). @category layers */
export const layerWith = (options: Options): Layer.Layer<EventStore> => Layer.effect(EventStore, make(options))
