// The SQL commit (`agg_commit`) against the reference semantics: core's CommitPlan, as the memory store applies
// it. Random sequences of batches (few keys, so duplicates and conflicts abound; reused and repeated entries, so
// redeliveries too) go to both stores; every outcome, counter and page must agree.
import type { EventStore } from "@agg/core"
import { MemoryEventStore } from "@agg/core/memory"
import type { Event } from "@agg/schema"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { makePgliteKysely } from "../src/pglite.ts"
import * as PgEventStore from "../src/postgres/PgEventStore.ts"

interface Spec {
  readonly topic: number
  readonly key: number
  readonly variant: number
  /** Entry number on the run's stream, or none (direct mode). */
  readonly entry: number | null
}

const spec = fc.record({
  topic: fc.nat(2),
  key: fc.nat(4),
  variant: fc.nat(1),
  entry: fc.option(fc.nat(12), { nil: null })
})
const batches = fc.array(fc.array(spec, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 })

let run = 0

it.live(
  "agg_commit gives CommitPlan's outcomes, counters and order on random batches",
  () =>
    Effect.gen(function* () {
      const db = makePgliteKysely()
      yield* Effect.addFinalizer(() => Effect.promise(() => db.destroy()))
      const sqlStore = yield* PgEventStore.make(db)
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(batches, async (specs) => {
            // Fresh names per run: the PGlite database is shared by all runs.
            const r = run++
            const topicOf = (s: Spec) => `run${r}.t${s.topic}`
            const toDelivery = (s: Spec): EventStore.Delivery => {
              const event: Event = {
                topic: topicOf(s),
                event_id: `k${s.key}`,
                timestamp: "2026-11-21T10:00:00.000Z",
                source: "prop",
                payload: { v: s.variant }
              }
              return s.entry === null ? { event } : { event, deliveryId: { stream: `run${r}`, id: `1-${s.entry}` } }
            }
            const memory = await Effect.runPromise(MemoryEventStore.make())
            for (const batch of specs) {
              const deliveries = batch.map(toDelivery)
              const expected = await Effect.runPromise(memory.commit(deliveries))
              const actual = await Effect.runPromise(sqlStore.commit(deliveries))
              assert.deepStrictEqual(actual, expected)
            }
            const topics = [...new Set(specs.flat().map(topicOf))].sort()
            const statsOf = async (store: EventStore.EventStore["Service"]) =>
              (await Effect.runPromise(store.stats)).topics.filter((t) => topics.includes(t.topic))
            assert.deepStrictEqual(await statsOf(sqlStore), await statsOf(memory))
            for (const topic of topics) {
              const page = (store: EventStore.EventStore["Service"]) =>
                Effect.runPromise(store.read({ topic, after: 0, limit: 100 })).then((p) =>
                  p.events.map((e) => [e.event_id, e.offset, e.payload])
                )
              assert.deepStrictEqual(await page(sqlStore), await page(memory))
            }
          }),
          { numRuns: 60 }
        )
      )
    }).pipe(Effect.scoped),
  { timeout: 120_000 }
)
