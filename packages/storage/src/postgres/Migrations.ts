/**
 * The migrations, provided in code (bundle-safe: no directory scan), and `migrateToLatest`, which runs them at
 * start-up under a session-level advisory lock held on one dedicated connection, so any number of processes can
 * start at once: the first migrates, the others wait and then find nothing to do.
 *
 * @remarks Never migrates down. Knows nothing about events beyond the migration list.
 */
import { type Kysely, sql } from "kysely"
import { type Migration, type MigrationProvider, Migrator } from "kysely/migration"
import * as M20261121T0500 from "./migrations/20261121T0500_events.ts"
import * as M20261201T0900 from "./migrations/20261201T0900_commit_function.ts"

/** Every migration by name; names sort in the order they must run. */
export const migrations: Readonly<Record<string, Migration>> = {
  "20261121T0500_events": M20261121T0500,
  "20261201T0900_commit_function": M20261201T0900
}

const provider: MigrationProvider = { getMigrations: async () => ({ ...migrations }) }

// An arbitrary constant of our own (kysely's Migrator takes a different one inside). Covers the creation of
// kysely's bookkeeping tables too, which kysely does before taking its lock.
const MIGRATION_LOCK_KEY = 7_342_019_118_455_001n

/** Apply every pending migration; returns the names applied by this call (empty when up to date). */
export const migrateToLatest = <DB>(db: Kysely<DB>): Promise<ReadonlyArray<string>> =>
  db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn)
    try {
      const { error, results } = await new Migrator({ db: conn, provider }).migrateToLatest()
      if (error !== undefined) throw error
      return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName)
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn)
    }
  })
