/**
 * The scenario both `ServicesIsolation*.test.ts` files run at the same time against the same servers: the same
 * table name and the same key names, each in its own database / prefix, written in interleaved rounds, with
 * every read checking that only this file's writes are visible.
 */
import pg from "pg"
import { createClient } from "redis"
import { assert, it } from "vitest"
import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  useRedisPrefix,
  useTestDatabase
} from "../src/TestServices.ts"

const ROUNDS = 20
const PER_ROUND = 10

const pause = () => new Promise<void>((resolve) => setImmediate(resolve))

export const postgresScenario = async (url: string, dbName: string, tag: string): Promise<void> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const current = await client.query<{ db: string }>("select current_database() as db")
    assert.strictEqual(current.rows[0]?.db, dbName)
    await client.query("create table items (id int primary key, tag text not null)")
    for (let round = 0; round < ROUNDS; round++) {
      const ids = Array.from({ length: PER_ROUND }, (_, i) => round * PER_ROUND + i + 1)
      await client.query("insert into items (id, tag) select unnest($1::int[]), $2", [ids, tag])
      const seen = await client.query<{ n: string; tags: Array<string> }>(
        "select count(*)::text as n, array_agg(distinct tag) as tags from items"
      )
      assert.deepStrictEqual(seen.rows[0], { n: String((round + 1) * PER_ROUND), tags: [tag] })
      await pause()
    }
  } finally {
    await client.end()
  }
}

export const redisScenario = async (url: string, prefix: string, tag: string): Promise<void> => {
  const client = createClient({ url, RESP: 2 }).on("error", () => undefined)
  await client.connect()
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await client.multi().incrBy(`${prefix}:counter`, PER_ROUND).xAdd(`${prefix}:stream`, "*", { tag }).exec()
      assert.strictEqual(await client.get(`${prefix}:counter`), String((round + 1) * PER_ROUND))
      await pause()
    }
    const entries = (await client.xRange(`${prefix}:stream`, "-", "+")) ?? []
    assert.strictEqual(entries.length, ROUNDS)
    assert.deepStrictEqual([...new Set(entries.map((e) => e.message.tag))], [tag])
  } finally {
    client.destroy()
  }
}

/** Registers the isolation suite of one file; `tag` marks that file's writes ("file-A", "file-B"). */
export const isolationSuite = async (tag: string): Promise<void> => {
  const [postgres, redis] = await Promise.all([checkPostgres(), checkRedis()])
  describeWithServices(`isolation, ${tag}`, [postgres, redis], () => {
    const db = useTestDatabase()
    const keys = useRedisPrefix()

    it("sees only its own rows in a table named like the other file's", async () => {
      await postgresScenario(db().url, db().name, tag)
    })

    it("sees only its own keys under names like the other file's", async () => {
      await redisScenario(keys.url, keys.prefix, tag)
    })
  })
}
