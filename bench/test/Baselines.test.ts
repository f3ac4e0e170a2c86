import type { TestDatabaseHandle } from "@agg/testing/TestServices"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeSequence } from "../src/Events.ts"
import { createDatabase, defaultServers } from "../src/Isolation.ts"
import { runRawInsert } from "../src/scenarios/RawInsert.ts"
import { runSeedConsumer } from "../src/scenarios/SeedConsumer.ts"

// Real PostgreSQL (DATABASE_URL or the local default), in a database of its own, dropped afterwards.
describe("baselines on PostgreSQL", () => {
  let db: TestDatabaseHandle
  let client: pg.Client
  beforeAll(async () => {
    db = await createDatabase(defaultServers(), `t${Date.now()}${process.pid}`, "baselines")
    client = new pg.Client({ connectionString: db.url })
    await client.connect()
  })
  afterAll(async () => {
    await client?.end()
    await db?.drop()
  })
  const sequence = makeSequence({ events: 2_300, duplicateRatio: 0.3, batchSize: 500, idPrefix: "bt" })

  it("raw insert stores exactly the unique events of the sequence", async () => {
    const r = await runRawInsert(client, sequence)
    expect(r).toMatchObject({ events: 2_300, rowsStored: sequence.unique, verified: true })
    expect(r.eventsPerSec).toBeGreaterThan(0)
  })

  it("seed-style consumer counts every event once and extrapolates to the full count", async () => {
    const sample = makeSequence({ events: 300, duplicateRatio: 0.3, batchSize: 500, idPrefix: "bt" })
    const r = await runSeedConsumer(client, sample, 2_300)
    expect(r).toMatchObject({ events: 300, extrapolatedFor: 2_300, verified: true })
    expect(r.extrapolatedSeconds).toBeCloseTo((2_300 / 300) * r.seconds, 6)
    const stats = await client.query<{ u: string; d: string }>(
      "SELECT unique_processed::text AS u, duplicate_dropped::text AS d FROM seed_stats"
    )
    expect(stats.rows[0]).toEqual({ u: String(sample.unique), d: String(sample.duplicates) })
  })
})
