/**
 * The README's example of another service bringing its own `EventStore`: an inventory service that keeps stock
 * levels and applies each "stock" event exactly once. Kept here, type-checked and tested, so the README cannot rot.
 */
import type { StoredConflict, StoredEvent } from "@agg/schema"
import { Clock, Duration, Effect, Layer, Option } from "effect"
import { CommitPlan, EventLog, EventStore, Stats } from "../../src/index.ts"

export const makeInventoryStore = () => {
  const stock = new Map<string, number>() // the service's own state
  const hashes = new Map<string, string>()
  const counts = new Map<string, number>()
  const deliveries = new Map<string, { readonly ref: EventLog.EntryRef; readonly at: number }>()
  const rows: Array<StoredEvent> = []
  const rejected: Array<StoredConflict> = []
  const rejectedPerKey = new Map<string, number>()
  const topics = new Map<string, { unique: number; duplicates: number; conflicts: number }>()

  const commit = (batch: ReadonlyArray<EventStore.Delivery>) =>
    Effect.gen(function* () {
      // In a database this runs in one transaction, after locking the batch's topics in CommitPlan.topicsOf order.
      const plan = CommitPlan.plan(
        batch,
        { hashOf: (key) => hashes.get(key), isCommitted: (id) => deliveries.has(id) },
        (topic) => counts.get(topic) ?? 0
      )
      const receivedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
      for (const row of plan.inserts) {
        const { event } = row.delivery
        hashes.set(`${event.topic}\u0000${event.event_id}`, row.hash)
        rows.push({ ...event, offset: row.offset, received_at: receivedAt })
        const sku = String(event.payload["sku"])
        stock.set(sku, (stock.get(sku) ?? 0) + Number(event.payload["delta"])) // the effect, exactly once
      }
      for (const t of plan.topics) {
        counts.set(t.topic, t.unique)
        const c = topics.get(t.topic) ?? { unique: 0, duplicates: 0, conflicts: 0 }
        topics.set(t.topic, {
          unique: c.unique + t.addUnique,
          duplicates: c.duplicates + t.addDuplicates,
          conflicts: c.conflicts + t.addConflicts
        })
      }
      for (const [i, outcome] of plan.outcomes.entries()) {
        if (outcome._tag !== "Conflict") continue
        const { topic, event_id, timestamp, source, payload } = batch[i]!.event
        const version = (rejectedPerKey.get(`${topic}\u0000${event_id}`) ?? 0) + 1
        rejectedPerKey.set(`${topic}\u0000${event_id}`, version)
        const stored_offset = rows.find((r) => r.topic === topic && r.event_id === event_id)!.offset
        if (version <= EventStore.conflictsKeptPerKey) {
          const position = rejected.length + 1
          const conflict = { topic, event_id, timestamp, source, payload, stored_offset, version, rejected: 0 }
          rejected.push({ ...conflict, seen_at: receivedAt, position })
        }
      }
      const now = yield* Clock.currentTimeMillis
      for (const ref of plan.deliveryIds) deliveries.set(EventLog.refKey(ref), { ref, at: now })
      return plan.outcomes
    })

  // Which delivery ids were committed: asked by the consumer before it dead-letters an entry.
  const committed = (refs: ReadonlyArray<EventLog.EntryRef>) =>
    Effect.sync((): ReadonlySet<string> => new Set(refs.map(EventLog.refKey).filter((key) => deliveries.has(key))))

  const read = (query: EventStore.ReadQuery) =>
    Effect.sync(() => {
      const events =
        query.topic === undefined
          ? rows.slice(query.after, query.after + query.limit).map((e, i) => ({ ...e, position: query.after + i + 1 }))
          : rows.filter((r) => r.topic === query.topic).slice(query.after, query.after + query.limit)
      return { events, nextAfter: query.after + events.length }
    })

  const lookup = (key: { readonly topic: string; readonly event_id: string }) =>
    Effect.sync(() => Option.fromUndefinedOr(rows.find((r) => r.topic === key.topic && r.event_id === key.event_id)))

  const conflicts = (query: EventStore.ReadQuery) =>
    Effect.sync(() => {
      const mine = rejected.filter((c) => c.position > query.after && (query.topic ?? c.topic) === c.topic)
      const page = mine
        .slice(0, query.limit)
        .map((c) => ({ ...c, rejected: rejectedPerKey.get(`${c.topic}\u0000${c.event_id}`)! }))
      return { conflicts: page, nextAfter: page.at(-1)?.position ?? query.after }
    })

  const cursorAt = (query: EventStore.TimeQuery) =>
    Effect.sync(() => {
      const source = query.topic === undefined ? rows : rows.filter((r) => r.topic === query.topic)
      const first = source.findIndex((r) => Date.parse(r.received_at) >= Date.parse(query.since))
      return first < 0 ? source.length : first
    })

  // The log says which entries can no longer come back; their records go after a safety margin.
  const forget = (floor: EventLog.EntryRef, options: { readonly olderThan: Duration.Duration }) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      let n = 0
      for (const [key, { ref, at }] of deliveries) {
        const old = now - at >= Duration.toMillis(options.olderThan)
        if (ref.stream === floor.stream && old && EventLog.isBelow(ref.id, floor.id) && deliveries.delete(key)) n++
      }
      return n
    })

  const stats = Effect.sync(() =>
    Stats.sumTopics([...topics.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([topic, c]) => ({ topic, ...c })))
  )

  // A test double: its totals and pages come from the full listing.
  const totals = Effect.map(stats, (s) => ({
    unique: s.unique,
    duplicates: s.duplicates,
    conflicts: s.conflicts,
    topicCount: s.topics.length
  }))
  const topicPage = (query: EventStore.TopicQuery) =>
    Effect.map(stats, (s) => {
      const page = s.topics.filter((t) => t.topic > query.after).slice(0, query.limit)
      return { topics: page, nextAfter: page.at(-1)?.topic ?? query.after }
    })

  return {
    stock,
    layer: Layer.succeed(
      EventStore.EventStore,
      EventStore.EventStore.of({
        commit,
        committed,
        read,
        lookup,
        conflicts,
        cursorAt,
        stats,
        totals,
        topics: topicPage,
        ping: Effect.void,
        forget
      })
    )
  }
}
