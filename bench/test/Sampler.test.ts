import pg from "pg"
import { createClient } from "redis"
import { describe, expect, it } from "vitest"
import { createDatabase, createStream, defaultServers } from "../src/Isolation.ts"
import { samplePg, sampleRedisMemory } from "../src/Sampler.ts"

// Real PostgreSQL and Redis (DATABASE_URL / REDIS_URL or the local defaults), in a database and key prefix of their own.
const servers = defaultServers()
const runId = `t${Date.now()}${process.pid}`

describe("samplePg", () => {
  it("measures the WAL written up to pause(), not what is written after it", async () => {
    const db = await createDatabase(servers, runId, "sampler_wal")
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      await client.query("CREATE TABLE t (id int, body text)")
      const lsn = async () => (await client.query<{ l: string }>("SELECT pg_current_wal_lsn()::text AS l")).rows[0]!.l
      const since = async (from: string) =>
        Number(
          (
            await client.query<{ b: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS b", [
              from
            ])
          ).rows[0]!.b
        )
      const start = await lsn()
      const sampler = await samplePg(servers.postgresUrl, db.name)
      // ~1 MB of rows: far more WAL than the sampler's own reads could write
      await client.query("INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g")
      await sampler.pause()
      const paused = await lsn()
      await client.query("INSERT INTO t SELECT g, repeat('y', 1000) FROM generate_series(1, 10000) g")
      const after = await since(paused)
      const activity = await sampler.stop()
      const total = await since(start)
      expect(activity.walLsnBytes).toBeGreaterThan(1_000_000)
      // WAL is cluster-wide, so other load may add to every figure; the ~10 MB written after pause() must not count
      expect(after).toBeGreaterThan(5_000_000)
      expect(activity.walLsnBytes).toBeLessThanOrEqual(total - after)
    } finally {
      await client.end()
      await db.drop()
    }
  })
})

describe("sampleRedisMemory", () => {
  it("counts the entries the given streams hold beside used_memory", async () => {
    const stream = createStream(servers, runId, "sampler_redis")
    const keys = [`{${stream.key}:p0}:stream`, `{${stream.key}:p1}:stream`]
    const client = createClient({ url: servers.redisUrl, RESP: 2 }).on("error", () => undefined)
    await client.connect()
    try {
      const sampler = await sampleRedisMemory(servers.redisUrl, keys, 20)
      for (const [i, key] of keys.entries()) {
        const multi = client.multi()
        for (let n = 0; n < 1000 * (i + 1); n++) multi.xAdd(key, "*", { v: "1", e: "x".repeat(200) })
        await multi.exec()
      }
      const memory = await sampler.stop()
      expect(memory.maxEntries).toBe(3000)
      expect(memory.samples).toBeGreaterThanOrEqual(2)
      expect(memory.peakBytes).toBeGreaterThanOrEqual(memory.beforeBytes)
      expect(memory.beforeBytes).toBeGreaterThan(0)
      // a second stop() answers the same rather than reading from a closed connection
      expect(await sampler.stop()).toEqual(memory)
    } finally {
      client.destroy()
      await stream.cleanup()
    }
  })
})
