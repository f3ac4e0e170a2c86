/**
 * An in-memory `EventStore` with the semantics of the PostgreSQL one: each commit is atomic (planned with
 * `CommitPlan` and applied in one synchronous step, so no other commit interleaves), dedup by `(topic, event_id)`
 * with content hashes, recognised delivery ids, gap-free per-topic offsets, per-topic counters.
 *
 * For tests and embedding. Not durable: everything is lost with the process. `fault` lets a test make an
 * operation fail (or die) without a special port.
 */

import type { StoredConflict, StoredEvent } from "@agg/schema"
import { Clock, Duration, Effect, Layer, Option } from "effect"
import { plan } from "../CommitPlan.ts"
import { keyOf } from "../Dedup.ts"
import { type EntryRef, isBelow, refKey } from "../EventLog.ts"
import type { Delivery } from "../EventStore.ts"
import {
  conflictsKeptPerKey,
  EventStore,
  EventStoreError,
  type ReadQuery,
  type TimeQuery,
  type TopicQuery,
  type TopicStats
} from "../EventStore.ts"
import { sumTopics } from "../Stats.ts"

/** Options of `make`. @category models */
export interface Options {
  /**
   * Runs before every operation; a failure (or defect) replaces the operation, which then changes nothing.
   * `batch` is the commit's batch, empty for the others. `totals` and `topics` run the "stats" fault.
   */
  readonly fault?: (
    operation: "commit" | "committed" | "read" | "stats" | "forget" | "ping",
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
    const byKey = new Map<string, StoredEvent>()
    // Rejected versions in commit order (position = index + 1), and how many were rejected per key.
    const rejected: Array<StoredConflict> = []
    const rejectedPerKey = new Map<string, number>()
    const committed = new Map<string, { readonly ref: EntryRef; readonly atMillis: number }>()
    const counters = new Map<string, Counters>()
    // Kept as commits count, so totals and topic pages never walk every topic.
    const totals = { unique: 0, duplicates: 0, conflicts: 0 }
    const names: Array<string> = [] // sorted
    const firstAbove = (after: string) => {
      let lo = 0
      let hi = names.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (names[mid]! <= after) lo = mid + 1
        else hi = mid
      }
      return lo
    }
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
          hashes.set(keyOf(event), row.hash)
          byKey.set(keyOf(event), stored)
        }
        for (const [i, outcome] of p.outcomes.entries()) {
          if (outcome._tag !== "Conflict") continue
          const { topic, event_id, timestamp, source, payload } = batch[i]!.event
          const key = keyOf({ topic, event_id })
          const version = (rejectedPerKey.get(key) ?? 0) + 1
          rejectedPerKey.set(key, version)
          if (version > conflictsKeptPerKey) continue
          const stored_offset = byKey.get(key)!.offset
          const position = rejected.length + 1
          rejected.push({
            topic,
            event_id,
            timestamp,
            source,
            payload,
            stored_offset,
            version,
            rejected: 0,
            seen_at: receivedAt,
            position
          })
        }
        for (const change of p.topics) {
          const c = counters.get(change.topic) ?? { unique: 0, duplicates: 0, conflicts: 0 }
          counters.set(change.topic, c)
          if (c.unique + c.duplicates === 0 && change.addUnique + change.addDuplicates > 0) {
            names.splice(firstAbove(change.topic), 0, change.topic)
          }
          totals.unique += change.addUnique
          totals.duplicates += change.addDuplicates
          totals.conflicts += change.addConflicts
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

    const lookup = (key: { readonly topic: string; readonly event_id: string }) =>
      Effect.gen(function* () {
        yield* fault("read", [])
        return Option.fromUndefinedOr(byKey.get(keyOf(key)))
      })

    const conflicts = (query: ReadQuery) =>
      Effect.gen(function* () {
        yield* fault("read", [])
        const { after, limit } = query
        if (!Number.isSafeInteger(after) || after < 0) return yield* invalidQuery(`after must be an integer >= 0`)
        if (!Number.isSafeInteger(limit) || limit < 1) return yield* invalidQuery(`limit must be an integer >= 1`)
        const page: Array<StoredConflict> = []
        for (let i = after; i < rejected.length && page.length < limit; i++) {
          const c = rejected[i]!
          if (query.topic !== undefined && c.topic !== query.topic) continue
          page.push({ ...c, rejected: rejectedPerKey.get(keyOf(c))! })
        }
        return { conflicts: page, nextAfter: page.at(-1)?.position ?? after }
      })

    // Both lists are in commit order, and received_at never decreases along them: a binary search.
    const firstAtOrAfter = (list: ReadonlyArray<StoredEvent>, since: string) => {
      let lo = 0
      let hi = list.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (list[mid]!.received_at < since) lo = mid + 1
        else hi = mid
      }
      return lo
    }
    const cursorAt = (query: TimeQuery) =>
      Effect.gen(function* () {
        yield* fault("read", [])
        const since = Date.parse(query.since)
        if (Number.isNaN(since)) return yield* invalidQuery(`since must be an ISO 8601 time`)
        const iso = new Date(since).toISOString()
        return firstAtOrAfter(query.topic === undefined ? all : (byTopic.get(query.topic) ?? []), iso)
      })

    const stats = Effect.gen(function* () {
      yield* fault("stats", [])
      const topics: Array<TopicStats> = [...counters.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([topic, c]) => ({ topic, ...c }))
      return sumTopics(topics)
    })

    const currentTotals = Effect.gen(function* () {
      yield* fault("stats", [])
      return { ...totals, topicCount: names.length }
    })

    const topics = (query: TopicQuery) =>
      Effect.gen(function* () {
        yield* fault("stats", [])
        if (!Number.isSafeInteger(query.limit) || query.limit < 1) {
          return yield* invalidQuery(`limit must be an integer >= 1`)
        }
        const start = firstAbove(query.after)
        const page = names.slice(start, start + query.limit).map((topic) => ({ topic, ...counters.get(topic)! }))
        return { topics: page, nextAfter: page.at(-1)?.topic ?? query.after }
      })

    const ping = fault("ping", [])

    return EventStore.of({
      commit,
      committed: isCommitted,
      read,
      lookup,
      conflicts,
      cursorAt,
      stats,
      totals: currentTotals,
      topics,
      ping,
      forget
    })
  })

/** A layer with a fresh store. @category layers */
export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make())

/** A layer with a fresh store and options (e.g. a `fault`). @category layers */
export const layerWith = (options: Options): Layer.Layer<EventStore> => Layer.effect(EventStore, make(options))
