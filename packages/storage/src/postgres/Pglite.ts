/**
 * The embedded store: the same `PgEventStore` on PGlite (PostgreSQL compiled to WebAssembly, in this process),
 * in memory or in a data directory. Reached only through its own entry point, `@agg/storage/pglite`, so that
 * importing `@agg/storage` (a worker, an API in queued mode) never loads PGlite.
 *
 * @remarks One connection: Kysely's connection mutex runs transactions one at a time. Holds no SQL.
 */
import { mkdirSync } from "node:fs"
import { EventStore } from "@agg/core"
import { PGlite } from "@electric-sql/pglite"
import { Effect, Layer } from "effect"
import { Kysely, PGliteDialect } from "kysely"
import type { Database } from "./Database.ts"
import { scoped } from "./PgConnection.ts"
import * as PgEventStore from "./PgEventStore.ts"

/** Settings of the embedded store. @category models */
export interface PgliteConfig {
  /** Data directory (created when missing); omitted: in memory, lost with the process. */
  readonly dataDir?: string
}

/** Kysely on PGlite (in memory without `dataDir`; the directory and its parents are created). @category constructors */
export const makePgliteKysely = (config: PgliteConfig = {}): Kysely<Database> => {
  // PGlite creates only the last level of its data directory.
  if (config.dataDir !== undefined) mkdirSync(config.dataDir, { recursive: true })
  return new Kysely<Database>({ dialect: new PGliteDialect({ pglite: new PGlite(config.dataDir) }) })
}

/**
 * `EventStore` on PGlite: a data directory (the embedded default) or in memory; migrated at start, closed on
 * release.
 * @category layers
 */
export const layerPglite = (
  config: PgliteConfig = {}
): Layer.Layer<EventStore.EventStore, EventStore.EventStoreError> =>
  Layer.effect(
    EventStore.EventStore,
    Effect.flatMap(
      scoped(() => makePgliteKysely(config)),
      PgEventStore.make
    )
  )
