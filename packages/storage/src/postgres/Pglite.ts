/**
 * The embedded store: the same `PgEventStore` on PGlite (PostgreSQL compiled to WebAssembly, in this process),
 * in memory or in a data directory. Reached only through its own entry point, `@agg/storage/pglite`, so that
 * importing `@agg/storage` (a worker, an API in queued mode) never loads PGlite.
 *
 * The data directory is private to its owner: created 0700, every file in it 0600. PGlite itself writes the
 * files of a new database 0666, and a copy or restore may loosen them, so at every start the modes are checked
 * and tightened (a warning says so when a start finds them loosened).
 *
 * @remarks One connection: Kysely's connection mutex runs transactions one at a time. Holds no SQL.
 */
import { chmodSync, mkdirSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { EventStore } from "@agg/core"
import { PGlite, types } from "@electric-sql/pglite"
import { Effect, Layer } from "effect"
import { CompiledQuery, Kysely, PGliteDialect } from "kysely"
import type { Database } from "./Database.ts"
import { scoped, searchPathOf } from "./PgConnection.ts"
import * as PgEventStore from "./PgEventStore.ts"

/** Settings of the embedded store. @category models */
export interface PgliteConfig {
  /** Data directory (created when missing); omitted: in memory, lost with the process. */
  readonly dataDir?: string
  /** The connection's `search_path`, as `PgConfig.searchPath` (the `Inbox` keeps its tables in a schema of their own). */
  readonly searchPath?: ReadonlyArray<string>
}

// PostgreSQL's ISO output of a timestamptz: "2026-11-21 10:00:00.123+00", "0001-01-01 00:00:00+00", "… BC".
const TIMESTAMPTZ_TEXT =
  /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?( BC)?$/

/**
 * A timestamptz as PostgreSQL writes it, to the exact instant (milliseconds; finer digits are dropped, as
 * node-postgres does). PGlite's own parser hands the text to `new Date`, which reads the years 0001–0099 as
 * 1901–1999 or 2000–2049; this one sets the year as written, so both modes return the same instants. Text it
 * does not know (`infinity`) goes to `new Date`, as before.
 */
export const parseTimestamptz = (text: string): Date => {
  const m = TIMESTAMPTZ_TEXT.exec(text)
  if (m === null) return new Date(text)
  const n = (i: number) => Number(m[i] ?? 0)
  const year = m[12] === undefined ? n(1) : 1 - n(1) // 1 BC is year 0 of the proleptic calendar
  const ms = Number((m[7] ?? "").padEnd(3, "0").slice(0, 3))
  const offsetSeconds = (m[8] === "-" ? -1 : 1) * (n(9) * 3600 + n(10) * 60 + n(11))
  const date = new Date(Date.UTC(2000, n(2) - 1, n(3), n(4), n(5), n(6), ms))
  date.setUTCFullYear(year) // Date.UTC would map 0–99 to 1900–1999
  return new Date(date.getTime() - offsetSeconds * 1000)
}

/**
 * PostgreSQL settings PGlite starts with, after its own. Its WebAssembly memory grows but never shrinks, so every
 * shared buffer PostgreSQL ever touched stays resident for the life of the process, and a few hundred thousand
 * events touch all of the default 128 MB. With 16 MB the embedded api peaked 100-130 MB lower in a
 * 200,000-event drain, at about 5% of its throughput; 8 MB saved nothing measurable more, and wal_buffers (which
 * follows shared_buffers: 512 kB) set back to 4 MB changed nothing measured.
 */
const PGLITE_SETTINGS: ReadonlyArray<string> = ["-c", "shared_buffers=16MB"]

/** Kysely on PGlite (in memory without `dataDir`; the directory and its parents are created). @category constructors */
export const makePgliteKysely = (config: PgliteConfig = {}): Kysely<Database> => {
  // PGlite creates only the last level of its data directory.
  if (config.dataDir !== undefined) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  // Validated here, before PGlite starts; set on the one connection before its first statement.
  const searchPath = config.searchPath === undefined ? undefined : searchPathOf(config.searchPath)
  return new Kysely<Database>({
    dialect: new PGliteDialect({
      pglite: new PGlite({
        ...(config.dataDir === undefined ? {} : { dataDir: config.dataDir }),
        startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS],
        parsers: { [types.TIMESTAMPTZ]: parseTimestamptz }
      }),
      ...(searchPath === undefined
        ? {}
        : {
            onCreateConnection: (c) =>
              c.executeQuery(CompiledQuery.raw(`SET search_path TO ${searchPath}`)).then(() => undefined)
          })
    })
  })
}

/**
 * Make `dir` (created when missing, 0700) and everything in it private to the owner: directories 0700, files
 * 0600. Returns how many entries allowed more than that. @category constructors
 */
export const secureDataDir = (dir: string): number => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  let loosened = 0
  const visit = (path: string) => {
    const stat = statSync(path)
    const mode = stat.isDirectory() ? 0o700 : 0o600
    if ((stat.mode & 0o777) !== mode) {
      if ((stat.mode & 0o077) !== 0) loosened++
      chmodSync(path, mode)
    }
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
  }
  visit(dir)
  return loosened
}

const secure = (dir: string) =>
  Effect.try({
    try: () => secureDataDir(dir),
    catch: (cause) =>
      new EventStore.EventStoreError({
        operation: "start",
        retryable: false,
        message: `cannot make the data directory ${dir} private (0700, files 0600): ${String(cause)}`,
        cause
      })
  })

/**
 * `EventStore` on PGlite: a data directory (the embedded default) or in memory; migrated at start, closed on
 * release. The data directory's modes are checked and tightened at start (see the module comment).
 * @category layers
 */
export const layerPglite = (
  config: PgliteConfig = {}
): Layer.Layer<EventStore.EventStore, EventStore.EventStoreError> =>
  Layer.effect(
    EventStore.EventStore,
    Effect.gen(function* () {
      const dir = config.dataDir
      if (dir !== undefined && (yield* secure(dir)) > 0) {
        yield* Effect.logWarning("the data directory was open to other users; made private (0700, files 0600)", {
          dir
        })
      }
      const db = yield* scoped(() => makePgliteKysely(config))
      // One process owns a PGlite database: its totals are kept from its own commits, never scanned again.
      const store = yield* PgEventStore.make(db, { totalsMaxAge: "single-writer" })
      // The files a new database was just created with.
      if (dir !== undefined) yield* secure(dir)
      return store
    })
  )
