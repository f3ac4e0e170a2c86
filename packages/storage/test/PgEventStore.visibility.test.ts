// All-topics paging against commits that finish out of order, on a real PostgreSQL (own database per file).
// A gate (a trigger on `events` that waits for an advisory lock the test holds) stops commit A inside its
// transaction, after or before its insert, while commit B on another topic starts later and commits first. The
// reader must never page past a position A's rows can still take: every row is read exactly once, in the order
// of the store's positions. Also: a transaction left open in another database does not hold reads back, one in
// this database holds back only newer commits, and a commit larger than a position's rank space is refused.
import { EventStore } from "@agg/core"
import type { StoredEvent } from "@agg/schema"
import { allTopicsReader, makeEvent } from "@agg/testing/EventStoreSuite"
import { checkPostgres, createTestDatabase, describeWithServices, TestDatabase } from "@agg/testing/TestServices"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Schedule } from "effect"
import pg from "pg"
import * as PgConnection from "../src/postgres/PgConnection.ts"
import * as PgEventStore from "../src/postgres/PgEventStore.ts"

const postgres = await checkPostgres()

const GATE_LOCK = 61_021

/** A connection of its own, closed with the scope. */
const connect = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end())
  )

const run = (client: pg.Client, text: string, values: Array<unknown> = []) =>
  Effect.promise(() => client.query(text, values))

/**
 * Install the gate: rows of topics named `gate.*` wait, inside the inserting transaction, for the advisory lock
 * GATE_LOCK (`when`: just after or just before the row is inserted). Returns the connection holding the lock;
 * `open` releases it. Removed with the scope.
 */
const gate = (url: string, when: "AFTER" | "BEFORE") =>
  Effect.gen(function* () {
    const admin = yield* connect(url)
    yield* run(
      admin,
      `CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.topic LIKE 'gate.%' THEN PERFORM pg_advisory_xact_lock(${GATE_LOCK}); END IF;
         RETURN NEW;
       END $$`
    )
    yield* run(admin, `CREATE TRIGGER gate ${when} INSERT ON events FOR EACH ROW EXECUTE FUNCTION gate()`)
    yield* Effect.addFinalizer(() =>
      run(admin, "DROP TRIGGER gate ON events").pipe(Effect.andThen(run(admin, "DROP FUNCTION gate()")))
    )
    const holder = yield* connect(url)
    yield* run(holder, `SELECT pg_advisory_lock(${GATE_LOCK})`)
    return { open: run(holder, `SELECT pg_advisory_unlock(${GATE_LOCK})`) }
  })

/** Wait until a backend of this database waits for the gate's lock. */
const waitingAtGate = (url: string, name: string) =>
  Effect.gen(function* () {
    const probe = yield* connect(url)
    yield* run(
      probe,
      "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database " +
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = $1 AND d.datname = $2",
      [GATE_LOCK, name]
    ).pipe(
      Effect.flatMap((r) => (r.rows[0]?.n === 1 ? Effect.void : Effect.fail("commit not at the gate yet" as const))),
      Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
    )
  }).pipe(Effect.scoped)

const keyOf = (e: StoredEvent) => `${e.topic}/${e.event_id}`
const suffix = () => Math.random().toString(36).slice(2, 10)

const storeLayer = Layer.unwrap(
  Effect.gen(function* () {
    const db = yield* TestDatabase
    return PgEventStore.layer({ url: db.url, poolSize: 4 })
  })
)

describeWithServices("PgEventStore: all-topics reads while commits finish out of order", [postgres], () => {
  const database = TestDatabase.layer({ setup: (url) => PgConnection.migrate({ url }).then(() => undefined) })
  layer(Layer.merge(database, storeLayer.pipe(Layer.provide(database))), {
    timeout: "60 seconds",
    excludeTestServices: true
  })((it) => {
    for (const when of ["AFTER", "BEFORE"] as const) {
      it.effect(`commit A paused ${when.toLowerCase()} its insert, commit B commits first: no row is skipped`, () =>
        Effect.gen(function* () {
          const db = yield* TestDatabase
          const store = yield* EventStore.EventStore
          const a = `gate.a.${suffix()}`
          const b = `free.b.${suffix()}`
          const reader = allTopicsReader(3)
          const seen: Array<StoredEvent> = [...(yield* reader.poll)]
          const start = seen.length

          const { open } = yield* gate(db.url, when)
          const commitA = yield* Effect.forkChild(
            store.commit([1, 2, 3].map((i) => ({ event: makeEvent(a, `a${i}`) })))
          )
          yield* waitingAtGate(db.url, db.name)
          // B starts after A took its transaction id (A holds its topic lock) and commits while A is still open.
          const outB = yield* store.commit([1, 2, 3, 4].map((i) => ({ event: makeEvent(b, `b${i}`) })))
          assert.deepStrictEqual(
            outB.map((o) => o._tag),
            ["New", "New", "New", "New"]
          )
          // B is committed: its own topic shows it at once.
          assert.strictEqual((yield* store.read({ topic: b, after: 0, limit: 10 })).events.length, 4)

          // All topics: B's rows would sit above a position A's rows are about to take, so none is returned yet.
          seen.push(...(yield* reader.poll))
          assert.deepStrictEqual(seen.slice(start).map(keyOf), [], "nothing above an open writer's rows")

          yield* open
          const outA = yield* Fiber.join(commitA)
          assert.deepStrictEqual(
            outA.map((o) => o._tag),
            ["New", "New", "New"]
          )
          const expected = [
            ...["a1", "a2", "a3"].map((id) => `${a}/${id}`),
            ...["b1", "b2", "b3", "b4"].map((id) => `${b}/${id}`)
          ]
          yield* reader.poll.pipe(
            Effect.flatMap((rows) => {
              seen.push(...rows)
              return seen.length - start >= expected.length ? Effect.void : Effect.fail("not visible yet" as const)
            }),
            Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
          )
          // Exactly once each, A (the older transaction) before B although B committed first.
          assert.deepStrictEqual(seen.slice(start).map(keyOf), expected)
        }).pipe(Effect.scoped)
      )
    }

    it.effect("a transaction open in another database does not hold all-topics reads back", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const other = yield* Effect.acquireRelease(
          Effect.promise(() => createTestDatabase()),
          (d) => Effect.promise(() => d.drop())
        )
        const elsewhere = yield* connect(other.url)
        yield* run(elsewhere, "BEGIN")
        yield* run(elsewhere, "SELECT pg_current_xact_id()") // takes a transaction id, older than the commit below
        const t = `free.c.${suffix()}`
        const reader = allTopicsReader(1000)
        const before = (yield* reader.poll).length
        yield* store.commit([{ event: makeEvent(t, "c1") }])
        const after = yield* reader.poll
        assert.deepStrictEqual(after.map(keyOf), [`${t}/c1`], `visible past ${before} rows while the other is open`)
        yield* run(elsewhere, "ROLLBACK")
      }).pipe(Effect.scoped)
    )

    it.effect("a transaction open in this database holds back only the rows above it", () =>
      Effect.gen(function* () {
        const db = yield* TestDatabase
        const store = yield* EventStore.EventStore
        const t = `free.d.${suffix()}`
        const reader = allTopicsReader(1000)
        yield* reader.poll
        yield* store.commit([{ event: makeEvent(t, "d1") }])
        const here = yield* connect(db.url)
        yield* run(here, "BEGIN")
        yield* run(here, "SELECT pg_current_xact_id()")
        yield* store.commit([{ event: makeEvent(t, "d2") }])
        assert.deepStrictEqual((yield* reader.poll).map(keyOf), [`${t}/d1`], "d2 waits for the older transaction")
        yield* run(here, "ROLLBACK")
        assert.deepStrictEqual((yield* reader.poll).map(keyOf), [`${t}/d2`])
      }).pipe(Effect.scoped)
    )

    it.effect("a commit of more new events than a position has ranks for fails, not retryable, commits nothing", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const t = `free.big.${suffix()}`
        const batch = Array.from({ length: 2 ** 16 + 1 }, (_, i) => ({ event: makeEvent(t, `e${i}`) }))
        const error = yield* Effect.flip(store.commit(batch))
        assert.strictEqual(error.retryable, false)
        assert.include(error.message, "at most 65536 new events, this batch has 65537")
        assert.deepStrictEqual(yield* store.read({ topic: t, after: 0, limit: 1 }), { events: [], nextAfter: 0 })
        // One fewer fits.
        const out = yield* store.commit(batch.slice(1))
        assert.deepStrictEqual(out.at(-1), { _tag: "New", offset: 2 ** 16 })
      })
    )
  })
})
