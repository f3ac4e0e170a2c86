import { layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import pg from "pg"
import { createClient } from "redis"
import { assert, it } from "vitest"
import {
  checkPostgres,
  checkRedis,
  createRedisPrefix,
  createTestDatabase,
  describeWithServices,
  postgresUrl,
  queryRows,
  redisUrl,
  TestDatabase,
  TestRedis
} from "../src/TestServices.ts"

const [postgres, redis] = await Promise.all([checkPostgres(), checkRedis()])

const databaseExists = async (name: string) =>
  (await queryRows(postgresUrl(), "select 1 from pg_database where datname = $1", [name])).length === 1

it("an unreachable PostgreSQL is a skip reason naming service and URL, and an error under CI", async () => {
  const url = "postgres://postgres@127.0.0.1:1/test"
  const local = await checkPostgres(url, { ci: false })
  assert.isFalse(local.available)
  assert.include(local.available ? "" : local.reason, `PostgreSQL unreachable at ${url}`)
  const error = await checkPostgres(url, { ci: true }).then(
    () => undefined,
    (e: unknown) => e
  )
  assert.instanceOf(error, Error)
  assert.include((error as Error).message, `PostgreSQL unreachable at ${url}`)
  assert.include((error as Error).message, "CI=true")
})

it("an unreachable Redis is a skip reason naming service and URL, and an error under CI", async () => {
  const url = "redis://127.0.0.1:1"
  const local = await checkRedis(url, { ci: false })
  assert.isFalse(local.available)
  assert.include(local.available ? "" : local.reason, `Redis unreachable at ${url}`)
  await checkRedis(url, { ci: true }).then(
    () => assert.fail("expected a rejection under CI"),
    (e: unknown) => assert.include(String(e), `Redis unreachable at ${url}`)
  )
})

describeWithServices("PostgreSQL test databases", [postgres], () => {
  it("two databases at once hold same-named tables independently, and are dropped", async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()])
    assert.notStrictEqual(a.name, b.name)
    await Promise.all(
      [a, b].map((db) =>
        queryRows(db.url, "create table t (v text); insert into t values ($1)".replace("$1", `'${db.name}'`))
      )
    )
    assert.deepStrictEqual(await queryRows(a.url, "select v from t"), [{ v: a.name }])
    assert.deepStrictEqual(await queryRows(b.url, "select v from t"), [{ v: b.name }])
    // DROP ... WITH (FORCE) even while a connection is open.
    const open = new pg.Client({ connectionString: a.url })
    open.on("error", () => undefined)
    await open.connect()
    await Promise.all([a.drop(), b.drop()])
    await a.drop() // idempotent
    await open.end().catch(() => undefined)
    assert.isFalse(await databaseExists(a.name))
    assert.isFalse(await databaseExists(b.name))
  })

  it("runs setup on the new database before handing it out, and drops it when setup fails", async () => {
    const db = await createTestDatabase({
      setup: (url) => queryRows(url, "create table migrated (id int)").then(() => {})
    })
    try {
      assert.deepStrictEqual(await queryRows(db.url, "select count(*)::int as n from migrated"), [{ n: 0 }])
    } finally {
      await db.drop()
    }
    let failedName: string | undefined
    const error = await createTestDatabase({
      setup: async (url) => {
        failedName = new URL(url).pathname.slice(1)
        throw new Error("migration failed")
      }
    }).then(
      () => undefined,
      (e: unknown) => e
    )
    assert.strictEqual((error as Error).message, "migration failed")
    assert.isDefined(failedName)
    assert.isFalse(await databaseExists(failedName ?? ""))
  })
})

describeWithServices("Redis test prefixes", [redis], () => {
  it("cleanup deletes every key under its prefix and nothing under another", async () => {
    const mine = createRedisPrefix()
    const other = createRedisPrefix()
    assert.match(mine.prefix, /^agg:test:[0-9a-f]{12}$/)
    assert.notStrictEqual(mine.prefix, other.prefix)
    const client = createClient({ url: redisUrl(), RESP: 2 })
    await client.connect()
    try {
      for (const p of [mine.prefix, other.prefix]) {
        await client.multi().set(`${p}:a`, "1").xAdd(`${p}:stream`, "*", { v: "1" }).incr(`${p}:n`).exec()
      }
      assert.strictEqual(await mine.cleanup(), 3)
      assert.strictEqual(await client.exists([`${mine.prefix}:a`, `${mine.prefix}:stream`, `${mine.prefix}:n`]), 0)
      assert.strictEqual(await client.exists([`${other.prefix}:a`, `${other.prefix}:stream`, `${other.prefix}:n`]), 3)
      assert.strictEqual(await other.cleanup(), 3)
    } finally {
      client.destroy()
    }
  })
})

describeWithServices("Effect layers", [postgres, redis], () => {
  layer(Layer.mergeAll(TestDatabase.layer(), TestRedis.layer()))((it) => {
    it.effect("provide an existing isolated database and a fresh prefix", () =>
      Effect.gen(function* () {
        const db = yield* TestDatabase
        const keys = yield* TestRedis
        assert.match(db.name, /^agg_test_[0-9a-f]{12}$/)
        const rows = yield* Effect.promise(() => queryRows<{ db: string }>(db.url, "select current_database() as db"))
        assert.deepStrictEqual(rows, [{ db: db.name }])
        assert.match(keys.prefix, /^agg:test:[0-9a-f]{12}$/)
      })
    )
  })
})
