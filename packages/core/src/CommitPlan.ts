/**
 * Pure: everything one `EventStore.commit` must write, computed from the batch and what is stored: the per-event
 * outcomes, the rows to insert with their offsets, the per-topic counter changes and the delivery ids to remember.
 * Every `EventStore` implementation (memory, PostgreSQL) runs this same plan, so they agree by construction.
 *
 * It performs no I/O and takes no lock: the caller reads `Stored` and the topic counts under the lock that keeps
 * them stable until the plan is written, in the same transaction.
 */
import { type Classified, classify, type Stored } from "./Dedup.ts"
import type { EntryRef } from "./EventLog.ts"
import type { Delivery, Outcome } from "./EventStore.ts"
import { assignOffsets } from "./Ordering.ts"

/** A new event to insert, with its offset and content hash. @category models */
export interface NewRow {
  readonly delivery: Delivery
  readonly offset: number
  readonly hash: string
}

/** How one topic's counters change. `unique` is also the topic's count (highest offset) after the commit. @category models */
export interface TopicChange {
  readonly topic: string
  readonly unique: number
  readonly addUnique: number
  readonly addDuplicates: number
  readonly addConflicts: number
}

/** What a commit writes. @category models */
export interface CommitPlan {
  readonly outcomes: Array<Outcome>
  readonly inserts: Array<NewRow>
  /** Topics sorted by name: the order in which a store should lock their counter rows. */
  readonly topics: Array<TopicChange>
  /** Entries of this batch not committed before (every verdict but `Redelivered`), to record with the commit. */
  readonly deliveryIds: Array<EntryRef>
}

/** The distinct topics of a batch, sorted: lock their counter rows in this order to avoid deadlocks. @category constructors */
export const topicsOf = (batch: ReadonlyArray<Delivery>): Array<string> =>
  [...new Set(batch.map((d) => d.event.topic))].sort()

/**
 * Plan a commit: classify (Dedup) first, then assign offsets (Ordering) to the new events only.
 * `currentCount(topic)` is the topic's stored count (0 when unknown).
 * @category constructors
 */
export const plan = (
  batch: ReadonlyArray<Delivery>,
  stored: Stored,
  currentCount: (topic: string) => number
): CommitPlan => {
  const classified: Array<Classified> = classify(batch, stored)
  const fresh = classified.filter((c) => c.verdict === "New")
  const { offsets, counts } = assignOffsets(
    fresh.map((c) => c.delivery.event.topic),
    currentCount
  )
  const inserts = fresh.map((c, i): NewRow => ({ delivery: c.delivery, offset: offsets[i]!, hash: c.hash }))
  const offsetOf = new Map(fresh.map((c, i) => [c, offsets[i]!]))

  const changes = new Map<string, { unique: number; duplicates: number; conflicts: number }>()
  const deliveryIds: Array<EntryRef> = []
  const outcomes = classified.map((c): Outcome => {
    if (c.verdict === "Redelivered") return { _tag: "Redelivered" }
    if (c.delivery.deliveryId !== undefined) deliveryIds.push(c.delivery.deliveryId)
    const topic = c.delivery.event.topic
    const change = changes.get(topic) ?? { unique: 0, duplicates: 0, conflicts: 0 }
    changes.set(topic, change)
    if (c.verdict === "New") {
      change.unique++
      return { _tag: "New", offset: offsetOf.get(c)! }
    }
    change.duplicates++
    if (c.verdict === "Conflict") change.conflicts++
    return { _tag: c.verdict }
  })
  const topics = [...changes.keys()].sort().map(
    (topic): TopicChange => ({
      topic,
      unique: counts.get(topic) ?? currentCount(topic),
      addUnique: changes.get(topic)!.unique,
      addDuplicates: changes.get(topic)!.duplicates,
      addConflicts: changes.get(topic)!.conflicts
    })
  )
  return { outcomes, inserts, topics, deliveryIds }
}
