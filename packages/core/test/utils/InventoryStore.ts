/**
 * The README's example of another service bringing its own `EventStore`: an inventory service that keeps stock
 * levels and applies each "stock" event exactly once. Kept here, type-checked and tested, so the README cannot rot.
 */
import type { Event } from "@agg/schema"
import { Effect, Layer } from "effect"
import { CommitPlan, EventStore, Stats } from "../../src/index.ts"

export const makeInventoryStore = () => {
  const stock = new Map<string, number>() // the service's own state
  const hashes = new Map<string, string>()
  const counts = new Map<string, number>()
  const deliveries = new Set<string>()
  const rows: Array<Event & { offset: number; received_at: string }> = []
  const topics = new Map<string, { unique: number; duplicates: number; conflicts: number }>()

  const commit = (batch: ReadonlyArray<EventStore.Delivery>) =>
    Effect.sync(() => {
      // In a database this runs in one transaction, after locking the batch's topics in CommitPlan.topicsOf order.
      const plan = CommitPlan.plan(
        batch,
        { hashOf: (key) => hashes.get(key), isCommitted: (id) => deliveries.has(id) },
        (topic) => counts.get(topic) ?? 0
      )
      for (const row of plan.inserts) {
        const { event } = row.delivery
        hashes.set(`${event.topic}\u0000${event.event_id}`, row.hash)
        rows.push({ ...event, offset: row.offset, received_at: new Date(0).toISOString() })
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
      for (const id of plan.deliveryIds) deliveries.add(id)
      return plan.outcomes
    })

  // Which delivery ids were committed: asked by the consumer before it dead-letters an entry.
  const committed = (ids: ReadonlyArray<string>) =>
    Effect.sync((): ReadonlySet<string> => new Set(ids.filter((id) => deliveries.has(id))))

  const read = (query: EventStore.ReadQuery) =>
    Effect.sync(() => {
      const source = query.topic === undefined ? rows : rows.filter((r) => r.topic === query.topic)
      const events = source.slice(query.after, query.after + query.limit)
      return { events, nextAfter: events.length === query.limit ? query.after + query.limit : null }
    })

  const stats = Effect.sync(() =>
    Stats.sumTopics([...topics.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([topic, c]) => ({ topic, ...c })))
  )

  return {
    stock,
    layer: Layer.succeed(EventStore.EventStore, EventStore.EventStore.of({ commit, committed, read, stats }))
  }
}
