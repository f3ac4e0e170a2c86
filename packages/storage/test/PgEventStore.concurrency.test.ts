// PgEventStore under concurrency and faults on a real PostgreSQL (own database per file):
// 4 committers with overlapping topics, cross-batch duplicates, conflicts and redeliveries → exact rows, counters,
// gap-free offsets and 0 deadlocks; a backend terminated mid-commit → retryable error, nothing committed.
import { ContentHash, Dedup, EventStore } from "@agg/core"
import type { Event } from "@agg/schema"
import { checkPostgres, describeWithServices, queryRows, TestDatabase } from "@agg/testing/TestServices"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import pg from "pg"
import * as PgConnection from "../src/postgres/PgConnection.ts"
import * as PgEventStore from "../src/postgres/PgEventStore.ts"

const postgres = await checkPostgres()

const query = <R extends pg.QueryResultRow>(url: string, text: string, values: Array<unknown> = []) =>
  Effect.promise(() => queryRows<R>(url, text, values))

const withStore = <A, E>(
  url: string,
  poolSize: number,
  f: (s: EventStore.EventStore["Service"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    return yield* f(yield* EventStore.EventStore)
  }).pipe(Effect.provide(PgEventStore.layer({ url, poolSize })))

// Deterministic pseudo-random numbers (mulberry32), one stream per committer.
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const COMMITTERS = 4
const BATCHES = 25
const BATCH_SIZE = 400
const REDELIVERED_PER_BATCH = 20
const TOPICS = ["orders", "payments", "users", "audit", "clicks", "mail"]
const KEYS_PER_TOPIC = 4_000

const makeWorkload = (committer: number) => {
  const next = rng(committer + 1)
  const batches: Array<Array<EventStore.Delivery>> = []
  for (let b = 0; b < BATCHES; b++) {
    const batch: Array<EventStore.Delivery> = []
    for (let i = 0; i < BATCH_SIZE - (b === 0 ? 0 : REDELIVERED_PER_BATCH); i++) {
      const topic = TOPICS[Math.floor(next() * TOPICS.length)]!
      const key = Math.floor(next() * KEYS_PER_TOPIC)
      // 10% of publishes of a key carry a different payload: conflicts whenever another version was stored first.
      const payload = next() < 0.1 ? { key, variant: committer } : { key }
      const event: Event = {
        topic,
        event_id: `e${key}`,
        timestamp: "2026-11-21T10:00:00.000Z",
        source: "load",
        payload
      }
      batch.push({ deliveryId: { stream: `load-${committer}`, id: `${b}-${i}` }, event })
    }
    // A crash between commit and ack: entries of the previous batch delivered again.
    if (b > 0) batch.push(...batches[b - 1]!.slice(0, REDELIVERED_PER_BATCH))
    batches.push(batch)
  }
  return batches
}

describeWithServices("PgEventStore concurrency and faults on PostgreSQL", [postgres], () => {
  layer(TestDatabase.layer({ setup: (url) => PgConnection.migrate({ url }).then(() => undefined) }), {
    timeout: "60 seconds",
    excludeTestServices: true
  })((it) => {
    it.effect(
      "4 concurrent committers, overlapping topics and duplicates: exact rows, counters, gap-free offsets, 0 deadlocks",
      () =>
        Effect.gen(function* () {
          const db = yield* TestDatabase
          const deadlocks = () =>
            query<{ n: string }>(db.url, "select deadlocks::text as n from pg_stat_database where datname = $1", [
              db.name
            ]).pipe(Effect.map((r) => Number(r[0]?.n ?? 0)))
          const workloads = Array.from({ length: COMMITTERS }, (_, c) => makeWorkload(c))
          const deadlocksBefore = yield* deadlocks()

          const started = performance.now()
          const results = yield* withStore(db.url, COMMITTERS, (store) =>
            Effect.forEach(
              workloads,
              (batches) =>
                Effect.forEach(batches, (batch) => store.commit(batch).pipe(Effect.map((o) => ({ batch, o })))),
              { concurrency: COMMITTERS }
            )
          )
          const seconds = (performance.now() - started) / 1000
          // Backends flush their statistics when they exit: wait until the pool's connections are gone.
          yield* query<{ n: number }>(
            db.url,
            "select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
            [db.name]
          ).pipe(
            Effect.flatMap((r) => (r[0]?.n === 0 ? Effect.void : Effect.fail("connections still open" as const))),
            Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 })
          )
          const deadlockDelta = (yield* deadlocks()) - deadlocksBefore

          const rows = yield* query<{ topic: string; event_id: string; offset: string; content_hash: string }>(
            db.url,
            'select topic, event_id, "offset"::text, content_hash from events'
          )
          const topicRows = yield* query<{ topic: string; u: number; d: number; c: number }>(
            db.url,
            "select topic, unique_count::int as u, duplicates::int as d, conflicts::int as c from topics order by topic"
          )
          const stored = new Map(rows.map((r) => [Dedup.keyOf(r), r]))

          const expected = new Map(TOPICS.map((t) => [t, { u: 0, d: 0, c: 0, offsets: [] as Array<number> }]))
          let deliveries = 0
          for (const [c, committed] of results.entries()) {
            for (const [b, { batch, o }] of committed.entries()) {
              assert.strictEqual(o.length, batch.length)
              for (const [i, delivery] of batch.entries()) {
                deliveries++
                const outcome = o[i]!
                const isCopy = b > 0 && i >= BATCH_SIZE - REDELIVERED_PER_BATCH
                assert.strictEqual(outcome._tag === "Redelivered", isCopy, `committer ${c} batch ${b} #${i}`)
                if (isCopy) continue
                const row = stored.get(Dedup.keyOf(delivery.event))
                assert.isDefined(row)
                const e = expected.get(delivery.event.topic)!
                const sameContent = row!.content_hash === ContentHash.contentHash(delivery.event)
                if (outcome._tag === "New") {
                  assert.strictEqual(Number(row!.offset), outcome.offset)
                  assert.isTrue(sameContent)
                  e.u++
                  e.offsets.push(outcome.offset)
                } else {
                  assert.strictEqual(outcome._tag, sameContent ? "Duplicate" : "Conflict")
                  e.d++
                  if (!sameContent) e.c++
                }
              }
            }
          }
          for (const [topic, e] of expected) {
            assert.deepStrictEqual(
              e.offsets.sort((a, b) => a - b),
              Array.from({ length: e.u }, (_, i) => i + 1),
              `offsets of ${topic} are 1..count`
            )
          }
          assert.deepStrictEqual(
            topicRows,
            [...expected].sort(([a], [b]) => (a < b ? -1 : 1)).map(([topic, e]) => ({ topic, u: e.u, d: e.d, c: e.c }))
          )
          assert.strictEqual(
            rows.length,
            [...expected.values()].reduce((n, e) => n + e.u, 0)
          )
          assert.strictEqual(deadlockDelta, 0)
          const totals = [...expected.values()].reduce((a, e) => ({ u: a.u + e.u, d: a.d + e.d, c: a.c + e.c }), {
            u: 0,
            d: 0,
            c: 0
          })
          yield* Effect.log(
            `concurrency: ${COMMITTERS} committers, ${deliveries} deliveries in ${COMMITTERS * BATCHES} batches, ` +
              `${totals.u} unique, ${totals.d} duplicates (${totals.c} conflicts), ` +
              `${deliveries - totals.u - totals.d} redelivered, ${deadlockDelta} deadlocks, ` +
              `${Math.round(deliveries / seconds)} deliveries/s`
          )
          assert.isAbove(totals.c, 0, "the workload produced conflicts")
          assert.isAbove(totals.d, totals.c, "the workload produced plain duplicates")
        }),
      120_000
    )

    it.effect("a backend terminated mid-commit: retryable error, nothing committed, the next commit succeeds", () =>
      Effect.gen(function* () {
        const db = yield* TestDatabase
        const event = (topic: string, id: string): EventStore.Delivery => ({
          event: { topic, event_id: id, timestamp: "2026-11-21T10:00:00.000Z", source: "fault", payload: {} }
        })
        yield* withStore(db.url, 2, (store) =>
          Effect.gen(function* () {
            yield* store.commit([event("fault.x", "x1")])
            // Hold fault.x's row lock from outside, so the commit stops inside its transaction, after it has
            // already inserted the new topic row fault.a.
            const blocker = new pg.Client({ connectionString: db.url })
            const release = Effect.promise(() => blocker.end())
            yield* Effect.addFinalizer(() => release)
            yield* Effect.promise(async () => {
              await blocker.connect()
              await blocker.query("begin")
              await blocker.query("select 1 from topics where topic = 'fault.x' for update")
            })
            const batch = [event("fault.a", "a1"), event("fault.x", "x2")]
            const fiber = yield* Effect.forkChild(store.commit(batch))
            const [waiting] = yield* query<{ pid: number }>(
              db.url,
              "select pid from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and query ilike '%agg_commit%'",
              [db.name]
            ).pipe(
              Effect.flatMap((r) =>
                r.length === 1 ? Effect.succeed(r) : Effect.fail("commit not waiting yet" as const)
              ),
              Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
            )
            yield* query(db.url, "select pg_terminate_backend($1)", [waiting!.pid])
            const error = yield* Effect.flip(Fiber.join(fiber))
            assert.strictEqual(error._tag, "EventStoreError")
            assert.strictEqual(error.operation, "commit")
            assert.isTrue(error.retryable, error.message)
            yield* Effect.promise(() => blocker.query("rollback"))

            const topics = yield* query<{ topic: string }>(
              db.url,
              "select topic from topics where topic like 'fault.%' order by topic"
            )
            assert.deepStrictEqual(
              topics.map((t) => t.topic),
              ["fault.x"],
              "no partial commit"
            )
            assert.deepStrictEqual(yield* store.commit(batch), [
              { _tag: "New", offset: 1 },
              { _tag: "New", offset: 2 }
            ])
          }).pipe(Effect.scoped)
        )
      })
    )
  })
})
