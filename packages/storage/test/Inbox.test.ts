// The transactional inbox on PostgreSQL and PGlite: our tables in their own schema and the service's in public;
// the handler sees new events only, in the commit's transaction; its failures roll back the dedup record too and
// carry the retryable flag the handler chose; with the core Consumer, a permanent failure dead-letters the entry
// alone and a retryable one is retried until it passes.
import { Consumer, EventLog, EventStore } from "@agg/core"
import { MemoryEventLog } from "@agg/core/memory"
import { eventStoreSuite } from "@agg/testing/EventStoreSuite"
import { checkPostgres, createTestDatabase, describeWithServices, TestDatabase } from "@agg/testing/TestServices"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, type Scope } from "effect"
import { sql } from "kysely"
import { makePgliteKysely } from "../src/pglite.ts"
import * as Inbox from "../src/postgres/Inbox.ts"
import { createStock, type Db, type ServiceDb, stockEvent } from "./utils/Stock.ts"

const postgres = await checkPostgres()

const SCHEMA = "inbox_ours"

const setup = createStock

/** What the handler saw, and a switch for its next failure. */
const makeService = () => {
  const seen: Array<string> = []
  const control: { fail: "retryable" | "permanent" | undefined; failures: number } = {
    fail: undefined,
    failures: 0
  }
  const apply = async (events: ReadonlyArray<Inbox.NewEvent>, trx: Parameters<Inbox.Handler<ServiceDb>>[1]) => {
    for (const { event } of events) {
      seen.push(event.event_id)
      await trx
        .insertInto("stock")
        .values({ sku: event.payload["sku"] as string, quantity: Number(event.payload["delta"]) })
        .onConflict((oc) => oc.column("sku").doUpdateSet({ quantity: sql`stock.quantity + excluded.quantity` }))
        .execute()
      if (event.payload["poison"] === true)
        throw new Inbox.InboxHandlerError({ retryable: false, message: `refused ${event.event_id}` })
    }
    // After the writes, so a rollback has something to undo.
    if (control.fail !== undefined) {
      const retryable = control.fail === "retryable"
      control.fail = undefined
      control.failures++
      throw new Inbox.InboxHandlerError({ retryable, message: "lock timeout on stock" })
    }
  }
  const handler: Inbox.Handler<ServiceDb> = (events, trx) => apply(events, trx)
  return { seen, control, handler }
}

const stockOf = (db: Db) =>
  Effect.promise(async () => {
    const rows = await db.selectFrom("stock").select(["sku", "quantity"]).orderBy("sku").execute()
    return Object.fromEntries(rows.map((r) => [r.sku, r.quantity]))
  })

const ref = (id: string): EventLog.EntryRef => ({ stream: "s", id })

type Open = Effect.Effect<Db, never, Scope.Scope>

const openPostgres: Open = Effect.gen(function* () {
  const database = yield* Effect.acquireRelease(
    Effect.promise(() => createTestDatabase()),
    (d) => Effect.promise(() => d.drop())
  )
  return yield* Effect.acquireRelease(
    Effect.sync(() => Inbox.connect<ServiceDb>({ url: database.url, schema: SCHEMA, poolSize: 3 })),
    (db) => Effect.promise(() => db.destroy())
  )
})

const openPglite: Open = Effect.acquireRelease(
  Effect.sync(() => makePgliteKysely({ searchPath: [SCHEMA, "public"] }) as unknown as Db),
  (db) => Effect.promise(() => db.destroy())
)

const inboxTests = (name: string, open: Open) =>
  describe(`Inbox on ${name}`, () => {
    it.live("our tables and agg_commit land in the configured schema, the service's table in public", () =>
      Effect.gen(function* () {
        const db = yield* open
        yield* Inbox.make(db, { schema: SCHEMA, handler: makeService().handler, setup })
        const tables = yield* Effect.promise(() =>
          sql<{ schema: string; name: string }>`
            SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
            WHERE table_schema IN (${SCHEMA}, 'public') ORDER BY 1, 2`.execute(db)
        )
        const bySchema = (s: string) => tables.rows.filter((r) => r.schema === s).map((r) => r.name)
        assert.includeMembers(bySchema(SCHEMA), ["events", "topics", "deliveries", "conflicts", "conflict_keys"])
        assert.deepStrictEqual(bySchema("public"), ["stock"])
        const fn = yield* Effect.promise(() =>
          sql<{ schema: string }>`
            SELECT n.nspname AS schema FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.proname = 'agg_commit'`.execute(db)
        )
        assert.deepStrictEqual(
          fn.rows.map((r) => r.schema),
          [SCHEMA]
        )
      })
    )

    it.live("a connection whose search_path does not start with the schema is refused at start", () =>
      Effect.gen(function* () {
        const db = yield* open
        const exit = yield* Effect.exit(Inbox.make(db, { schema: "elsewhere", handler: makeService().handler }))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
        assert.include(String(error && "error" in error ? error.error : error), "search_path must start with elsewhere")
      })
    )

    it.live("the handler sees new events only; duplicates, conflicts and redeliveries never reach it", () =>
      Effect.gen(function* () {
        const db = yield* open
        const service = makeService()
        const store = yield* Inbox.make(db, { schema: SCHEMA, handler: service.handler, setup })
        const first = yield* store.commit([
          { deliveryId: ref("1-0"), event: stockEvent("e1", "apple", 5) },
          { deliveryId: ref("1-1"), event: stockEvent("e2", "pear", 3) },
          { deliveryId: ref("1-2"), event: stockEvent("e1", "apple", 5) }, // resent as is
          { deliveryId: ref("1-3"), event: stockEvent("e2", "pear", 300) } // resent with other content
        ])
        assert.deepStrictEqual(
          first.map((o) => o._tag),
          ["New", "New", "Duplicate", "Conflict"]
        )
        // A consumer that died before its ack: the same entries come again, with one new event.
        const again = yield* store.commit([
          { deliveryId: ref("1-0"), event: stockEvent("e1", "apple", 5) },
          { deliveryId: ref("1-1"), event: stockEvent("e2", "pear", 3) },
          { deliveryId: ref("1-4"), event: stockEvent("e3", "apple", -2) }
        ])
        assert.deepStrictEqual(
          again.map((o) => o._tag),
          ["Redelivered", "Redelivered", "New"]
        )
        // A batch of nothing new does not call the handler at all.
        const nothing = yield* store.commit([{ deliveryId: ref("1-5"), event: stockEvent("e3", "apple", -2) }])
        assert.deepStrictEqual(
          nothing.map((o) => o._tag),
          ["Duplicate"]
        )
        assert.deepStrictEqual(service.seen, ["e1", "e2", "e3"])
        assert.deepStrictEqual(yield* stockOf(db), { apple: 3, pear: 3 })
        const stats = yield* store.stats
        assert.deepStrictEqual([stats.unique, stats.duplicates, stats.conflicts], [3, 3, 1])
      })
    )

    it.live("a retryable handler failure rolls back its writes and the dedup record; the retry applies once", () =>
      Effect.gen(function* () {
        const db = yield* open
        const service = makeService()
        const store = yield* Inbox.make(db, { schema: SCHEMA, handler: service.handler, setup })
        const batch = [
          { deliveryId: ref("2-0"), event: stockEvent("r1", "fig", 7) },
          { deliveryId: ref("2-1"), event: stockEvent("r2", "fig", 1) }
        ]
        service.control.fail = "retryable"
        const failed = yield* Effect.flip(store.commit(batch))
        assert.strictEqual(failed.retryable, true)
        assert.include(failed.message, "lock timeout on stock")
        assert.deepStrictEqual(yield* stockOf(db), {})
        assert.isTrue(Option.isNone(yield* store.lookup({ topic: "stock", event_id: "r1" })))
        assert.strictEqual((yield* store.committed([ref("2-0"), ref("2-1")])).size, 0)
        // The entries stayed pending: committed again they are new, not redeliveries, and applied once.
        const retried = yield* store.commit(batch)
        assert.deepStrictEqual(
          retried.map((o) => o._tag),
          ["New", "New"]
        )
        assert.deepStrictEqual(yield* stockOf(db), { fig: 8 })
        assert.strictEqual((yield* store.committed([ref("2-0"), ref("2-1")])).size, 2)
      })
    )

    it.live("permanent failures are not retryable: the handler's own, and the driver errors it throws", () =>
      Effect.gen(function* () {
        const db = yield* open
        const service = makeService()
        const store = yield* Inbox.make(db, { schema: SCHEMA, handler: service.handler, setup })
        const poison = yield* Effect.flip(
          store.commit([{ deliveryId: ref("3-0"), event: stockEvent("p1", "kiwi", 1, { poison: true }) }])
        )
        assert.strictEqual(poison.retryable, false)
        assert.include(poison.message, "refused p1")
        // A null sku violates the service's NOT NULL (SQLSTATE 23502): about the data, so not retryable.
        const invalid = yield* Effect.flip(store.commit([{ deliveryId: ref("3-1"), event: stockEvent("p2", null, 1) }]))
        assert.strictEqual(invalid.retryable, false)
        assert.include(invalid.message, "23502")
        assert.deepStrictEqual(yield* stockOf(db), {})
        assert.strictEqual((yield* store.stats).unique, 0)
      })
    )

    it.live("an Effect handler runs in the transaction too, and its typed failure keeps its flag", () =>
      Effect.gen(function* () {
        const db = yield* open
        let failOnce = true
        const store = yield* Inbox.make(db, {
          schema: SCHEMA,
          setup,
          handler: (events, trx) =>
            Effect.gen(function* () {
              yield* Effect.promise(() =>
                trx
                  .insertInto("stock")
                  .values(events.map(({ event }) => ({ sku: String(event.payload["sku"]), quantity: 1 })))
                  .execute()
              )
              if (failOnce) {
                failOnce = false
                return yield* new Inbox.InboxHandlerError({ retryable: true, message: "busy" })
              }
            })
        })
        const batch = [{ deliveryId: ref("4-0"), event: stockEvent("x1", "plum", 1) }]
        assert.strictEqual((yield* Effect.flip(store.commit(batch))).retryable, true)
        assert.deepStrictEqual(yield* stockOf(db), {})
        yield* store.commit(batch)
        assert.deepStrictEqual(yield* stockOf(db), { plum: 1 })
      })
    )

    it.live("a handler that throws synchronously or dies is a failure of the commit, never a crash", () =>
      Effect.gen(function* () {
        const db = yield* open
        const thrower = yield* Inbox.make(db, {
          schema: SCHEMA,
          setup,
          handler: () => {
            throw new TypeError("a bug")
          }
        })
        const thrown = yield* Effect.flip(thrower.commit([{ deliveryId: ref("5-0"), event: stockEvent("d1", "a", 1) }]))
        assert.deepStrictEqual([thrown.retryable, thrown.message.includes("a bug")], [false, true])
        const dying = yield* Inbox.make(db, { schema: SCHEMA, setup, handler: () => Effect.die(new Error("boom")) })
        const died = yield* Effect.flip(dying.commit([{ deliveryId: ref("5-1"), event: stockEvent("d2", "a", 1) }]))
        assert.deepStrictEqual([died.retryable, died.message.includes("boom")], [false, true])
        assert.strictEqual((yield* dying.stats).unique, 0)
      })
    )

    it.live("with the Consumer: a poison entry is dead-lettered alone, a retryable failure is retried", () =>
      Effect.gen(function* () {
        const db = yield* open
        const service = makeService()
        const store = yield* Inbox.make(db, { schema: SCHEMA, handler: service.handler, setup })
        const memory = yield* MemoryEventLog.make()
        yield* memory.log.append([
          stockEvent("c1", "lime", 2),
          stockEvent("c2", "lime", 100, { poison: true }),
          stockEvent("c3", "lime", 3),
          stockEvent("c1", "lime", 2) // a duplicate
        ])
        service.control.fail = "retryable"
        const consumer = yield* Consumer.make({
          consumer: "inbox-test",
          retryBase: "1 millis",
          retryCap: "5 millis"
        }).pipe(
          Effect.provideService(EventLog.EventLog, memory.log),
          Effect.provideService(EventStore.EventStore, store)
        )
        assert.strictEqual(yield* consumer.poll, 4)
        const dead = yield* memory.deadLetters
        assert.deepStrictEqual(
          dead.map((d) => (d.entry._tag === "Event" ? d.entry.event.event_id : d.entry.reason)),
          ["c2"]
        )
        assert.include(dead[0]!.reason, "refused c2")
        assert.deepStrictEqual(yield* stockOf(db), { lime: 5 })
        const metrics = yield* consumer.metrics
        assert.isAtLeast(metrics.retries, 1)
        assert.strictEqual(service.control.failures, 1)
        assert.deepStrictEqual([metrics.unique, metrics.duplicates, metrics.deadLettered], [2, 1, 1])
        assert.strictEqual((yield* memory.log.stats).pending, 0)
      })
    )
  })

describeWithServices("Inbox", [postgres], () => inboxTests("PostgreSQL", openPostgres))
inboxTests("PGlite", openPglite)

// With a handler that writes nothing, the inbox is an EventStore like any other: the whole contract holds.
describeWithServices("Inbox.layer", [postgres], () =>
  eventStoreSuite(
    "Inbox on PostgreSQL",
    Layer.unwrap(
      Effect.gen(function* () {
        const database = yield* TestDatabase
        return Inbox.layer({ url: database.url, schema: SCHEMA, handler: async () => undefined })
      })
    ).pipe(Layer.provide(TestDatabase.layer()))
  )
)
eventStoreSuite(
  "Inbox on PGlite",
  Layer.effect(
    EventStore.EventStore,
    Effect.flatMap(openPglite, (db) => Inbox.make(db, { schema: SCHEMA, handler: async () => undefined }))
  )
)
