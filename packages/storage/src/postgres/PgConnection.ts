/**
 * Connections to PostgreSQL through node-postgres: the pool behind a Kysely instance, its error listeners, the
 * connection settings (from code, or `DATABASE_URL` through Effect `Config`), and `migrate` for tools.
 *
 * @remarks Knows no SQL of the store (`PgEventStore`) and nothing of PGlite, which has its own entry point
 * (`@agg/storage/pglite`) so that a process on PostgreSQL never loads it.
 */
import type { EventStore } from "@agg/core"
import { Config, Effect, Redacted, type Scope } from "effect"
import { Kysely, PostgresDialect } from "kysely"
import pg from "pg"
import type { Database } from "./Database.ts"
import { migrateToLatest } from "./Migrations.ts"
import { toEventStoreError } from "./PgError.ts"

/** Settings of a PostgreSQL connection pool. @category models */
export interface PgConfig {
  /** `postgres://…` connection string. */
  readonly url: string | Redacted.Redacted<string>
  /** Pool size (default 10). */
  readonly poolSize?: number
  /** Time to wait for a pooled connection, in ms (default 10,000); past it a commit fails, retryable. */
  readonly connectTimeoutMs?: number
  /**
   * Every connection's `search_path`, e.g. `["agg", "public"]` for the `Inbox`, whose tables live in a schema of
   * their own; plain identifiers (letters, digits, `_`). Omitted: the server's default.
   */
  readonly searchPath?: ReadonlyArray<string>
}

/** `DATABASE_URL` (required), kept `Redacted`. @category models */
export const urlConfig: Config.Config<Redacted.Redacted<string>> = Config.Redacted("DATABASE_URL")

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A `search_path` value of plain identifiers; throws a RangeError on anything else. @category constructors */
export const searchPathOf = (schemas: ReadonlyArray<string>): string => {
  const bad = schemas.find((s) => !IDENTIFIER.test(s))
  if (schemas.length === 0 || bad !== undefined)
    throw new RangeError(`a search_path is one or more plain identifiers, got ${JSON.stringify(schemas)}`)
  return schemas.join(",")
}

/** Kysely on a node-postgres pool; the caller destroys it. @category constructors */
export const makeKysely = (config: PgConfig): Kysely<Database> => {
  const pool = new pg.Pool({
    connectionString: Redacted.isRedacted(config.url) ? Redacted.value(config.url) : config.url,
    max: config.poolSize ?? 10,
    connectionTimeoutMillis: config.connectTimeoutMs ?? 10_000,
    // A startup parameter, so it holds from the first statement on, also after DISCARD ALL.
    ...(config.searchPath === undefined ? {} : { options: `-c search_path=${searchPathOf(config.searchPath)}` })
  })
  // A client whose server connection dies emits 'error' (on the pool when idle, on the client when checked out);
  // without listeners Node would crash. The failing query rejects on its own (and is classified), the pool drops
  // the broken client, and the next checkout opens a fresh connection.
  pool.on("error", () => undefined)
  pool.on("connect", (client) => client.on("error", () => undefined))
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
}

/**
 * A Kysely instance opened by `open` and destroyed when the scope closes; an error opening it is classified like
 * any driver error. Shared by the PostgreSQL and PGlite layers.
 * @category constructors
 */
export const scoped = (
  open: () => Kysely<Database>
): Effect.Effect<Kysely<Database>, EventStore.EventStoreError, Scope.Scope> =>
  Effect.acquireRelease(Effect.try({ try: open, catch: (cause) => toEventStoreError("open", cause) }), (db) =>
    Effect.promise(() => db.destroy())
  )

/**
 * Migrate a PostgreSQL database to the latest schema and close the connection: for tools and test set-up (e.g.
 * `createTestDatabase({ setup: (url) => PgConnection.migrate({ url }) })`). The store's layers migrate by
 * themselves.
 * @category constructors
 */
export const migrate = async (config: PgConfig): Promise<ReadonlyArray<string>> => {
  const db = makeKysely({ ...config, poolSize: 1 })
  try {
    return await migrateToLatest(db)
  } finally {
    await db.destroy()
  }
}
