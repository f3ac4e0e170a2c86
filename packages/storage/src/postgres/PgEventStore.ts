/**
 * `EventStore` on Kysely: one implementation, run on PostgreSQL through node-postgres (`layer`) and on PGlite,
 * in memory or in a data directory (`layerPglite`, the embedded default).
 *
 * A commit is one transaction:
 * 1. create the missing `topics` rows of the batch (sorted) and lock all of them `FOR UPDATE ORDER BY topic`:
 *    every writer takes its rows in the same order, so writers never deadlock, and writers of disjoint topics
 *    never wait for each other (there is no global counter row);
 * 2. record the batch's delivery ids (`ON CONFLICT DO NOTHING RETURNING`): the ids not returned were committed
 *    before, so their deliveries are `Redelivered`;
 * 3. fetch the stored content hashes of the batch's keys, and let core's `CommitPlan` classify and assign
 *    offsets from the locked counts (race-free: nobody else can touch these topics until we commit);
 * 4. insert the new events in one `unnest` statement, in input order, and update the counters on the same
 *    locked rows.
 * Every statement is an index lookup or an insert, so the cost does not grow with the table.
 *
 * Reading all topics. A per-topic page is safe because offsets are assigned under the topic lock held to commit.
 * Across topics no lock orders the writers, and an insert-time sequence would not do: a transaction can take a
 * lower number and commit after a reader has already paged past a higher one, which it would then never see.
 * So each row's position is `pos = xid * 2^16 + rank`: `xid` is the inserting transaction's id
 * (`pg_current_xact_id()`), `rank` the row's index in the one insert each commit makes. A read of all topics
 * returns only rows below `horizon * 2^16`, where `horizon` is, in the statement's own snapshot, the lowest xid
 * that may still commit rows into this database: the oldest in-progress xid, skipping those
 * `pg_stat_activity` shows running in another database (they can never write here), and at most the snapshot's
 * `xmax` (the first xid not yet assigned). Every transaction below the horizon has finished, so its rows are
 * visible to the statement, and any transaction still running or not yet begun has an xid >= horizon: no commit
 * can ever add a row below a cursor the read returned. A skip is decided only on a fact that cannot change (an xid
 * is bound to its backend and database for life), so the order of these lookups does not matter; an xid the view
 * does not show (it finished meanwhile, a prepared transaction, a role without the right to see it) is kept, which
 * only delays rows.
 * The price: a commit becomes visible to all-topics reads once every older transaction in this database has
 * finished (a long-running writer here holds them back; per-topic reads never wait). And within one topic the
 * all-topics order follows offsets except when commits touching several topics race: a commit that took its xid
 * on one topic and then waited for another topic's lock is placed before the commit it waited for (each row is
 * still read exactly once; per-topic reads are in offset order). Bounds: `pos` stays an
 * exact JS number while xid < 2^37 (137 billion transactions over the cluster's life; a commit past it fails with
 * the check constraint `events_pos_js_safe`), and a commit inserts at most 2^16 = 65,536 new events.
 * `committed(ids)` is one primary-key lookup on `deliveries` (the ids recorded in step 2), never touching events.
 * On PGlite (one connection) Kysely's connection mutex runs transactions one at a time, so they never interleave.
 *
 * @remarks Does not retry (errors are classified by `PgError` and returned), does not own the schema beyond
 * running the migrations at start-up.
 */

import { mkdirSync } from "node:fs"
import { CommitPlan, Dedup, EventStore, Stats } from "@agg/core"
import type { StoredEvent } from "@agg/schema"
import { PGlite } from "@electric-sql/pglite"
import { Effect, Layer, Redacted } from "effect"
import { Kysely, PGliteDialect, PostgresDialect, sql } from "kysely"
import pg from "pg"
import type { Database, EventRow } from "./Database.ts"
import { migrateToLatest } from "./Migrations.ts"
import { toEventStoreError } from "./PgError.ts"

/** Settings of the PostgreSQL store. */
export interface PgConfig {
  /** `postgres://…` connection string. */
  readonly url: string | Redacted.Redacted<string>
  /** Pool size (default 10). */
  readonly poolSize?: number
  /** Time to wait for a pooled connection, in ms (default 10,000); past it a commit fails, retryable. */
  readonly connectTimeoutMs?: number
}

/** Settings of the embedded store. */
export interface PgliteConfig {
  /** Data directory (created when missing); omitted: in memory, lost with the process. */
  readonly dataDir?: string
}

// ----------------------------------------------------------------------------------------------------------------
// SQL (plain async Kysely functions; the Effect boundary is `make`)

/** Bits of `pos` below the xid: a commit inserts at most 2^RANK_BITS new events (see the module comment). */
const RANK_BITS = 16
const RANK_LIMIT = 2 ** RANK_BITS

/**
 * Most new events one commit may insert (2^16). Callers that size commits (the api's group commit and request
 * limit, the worker's batch size) must stay at or below it. @category models
 */
export const maxEventsPerCommit = RANK_LIMIT

/**
 * `horizon * 2^RANK_BITS` of the module comment, as a bigint expression. Both `pg_current_snapshot()` calls
 * return the statement's snapshot, the one its scan of `events` uses.
 */
const VISIBLE_BELOW = sql<string>`(least(
  pg_snapshot_xmax(pg_current_snapshot()),
  (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
   WHERE NOT EXISTS (
     SELECT 1 FROM pg_stat_activity a
     WHERE a.backend_xid = x::xid AND a.datname IS DISTINCT FROM current_database()))
)::text::bigint * ${sql.lit(RANK_LIMIT)})`

const toStoredEvent = (row: EventRow): StoredEvent => ({
  topic: row.topic,
  event_id: row.event_id,
  timestamp: row.ts.toISOString(),
  source: row.source,
  payload: row.payload as StoredEvent["payload"],
  offset: Number(row.offset),
  received_at: row.received_at.toISOString()
})

const commitBatch = (db: Kysely<Database>, batch: ReadonlyArray<EventStore.Delivery>) =>
  db.transaction().execute(async (trx) => {
    const topics = CommitPlan.topicsOf(batch)
    await sql`
      INSERT INTO topics (topic) SELECT t FROM unnest(${topics}::text[]) AS t
      ON CONFLICT (topic) DO NOTHING`.execute(trx)
    const locked = await trx
      .selectFrom("topics")
      .select(["topic", "unique_count"])
      .where(sql<boolean>`topic = any(${topics}::text[])`)
      .orderBy("topic")
      .forUpdate()
      .execute()
    const counts = new Map(locked.map((r) => [r.topic, Number(r.unique_count)]))

    const ids = [...new Set(batch.flatMap((d) => (d.deliveryId === undefined ? [] : [d.deliveryId])))].sort()
    const fresh = new Set<string>()
    if (ids.length > 0) {
      const { rows } = await sql<{ delivery_id: string }>`
        INSERT INTO deliveries (delivery_id) SELECT d FROM unnest(${ids}::text[]) AS d
        ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id`.execute(trx)
      for (const r of rows) fresh.add(r.delivery_id)
    }

    const keys = new Map(batch.map((d) => [Dedup.keyOf(d.event), d.event]))
    const { rows: stored } = await sql<{ topic: string; event_id: string; content_hash: string }>`
      SELECT e.topic, e.event_id, e.content_hash
      FROM unnest(${[...keys.values()].map((e) => e.topic)}::text[],
                  ${[...keys.values()].map((e) => e.event_id)}::text[]) AS k(topic, event_id)
      JOIN events e ON e.topic = k.topic AND e.event_id = k.event_id`.execute(trx)
    const hashes = new Map(stored.map((r) => [Dedup.keyOf(r), r.content_hash]))

    const result: CommitPlan.CommitPlan = CommitPlan.plan(
      batch,
      { hashOf: (key) => hashes.get(key), isCommitted: (id) => !fresh.has(id) },
      (topic) => counts.get(topic) ?? 0
    )

    if (result.inserts.length > 0) {
      // Input order, so `pos` follows arrival within the commit. No sort is needed against deadlocks: a unique-key
      // wait needs another writer inserting the same (topic, event_id), and that writer would hold our topic lock.
      // This is the transaction's only insert into events, so the rank (ordinality - 1) is unique within its xid.
      const rows = result.inserts
      if (rows.length > RANK_LIMIT) {
        throw new Error(`a commit may insert at most ${RANK_LIMIT} new events, this batch has ${rows.length}`)
      }
      await sql`
        INSERT INTO events (pos, topic, event_id, "offset", ts, source, payload, content_hash)
        SELECT pg_current_xact_id()::text::bigint * ${sql.lit(RANK_LIMIT)} + r.rank - 1,
               r.topic, r.event_id, r.off, r.ts, r.source, r.payload::jsonb, r.hash
        FROM unnest(
          ${rows.map((r) => r.delivery.event.topic)}::text[],
          ${rows.map((r) => r.delivery.event.event_id)}::text[],
          ${rows.map((r) => r.offset)}::bigint[],
          ${rows.map((r) => r.delivery.event.timestamp)}::timestamptz[],
          ${rows.map((r) => r.delivery.event.source)}::text[],
          ${rows.map((r) => JSON.stringify(r.delivery.event.payload))}::text[],
          ${rows.map((r) => r.hash)}::text[]
        ) WITH ORDINALITY AS r(topic, event_id, off, ts, source, payload, hash, rank)`.execute(trx)
    }
    if (result.topics.length > 0) {
      await sql`
        UPDATE topics SET
          unique_count = c.unique_count,
          duplicates = topics.duplicates + c.add_duplicates,
          conflicts = topics.conflicts + c.add_conflicts
        FROM unnest(
          ${result.topics.map((t) => t.topic)}::text[],
          ${result.topics.map((t) => t.unique)}::bigint[],
          ${result.topics.map((t) => t.addDuplicates)}::bigint[],
          ${result.topics.map((t) => t.addConflicts)}::bigint[]
        ) AS c(topic, unique_count, add_duplicates, add_conflicts)
        WHERE topics.topic = c.topic`.execute(trx)
    }
    return result.outcomes
  })

// One primary-key lookup on `deliveries`; events are not touched.
const committedIds = async (db: Kysely<Database>, ids: ReadonlyArray<string>): Promise<ReadonlySet<string>> => {
  if (ids.length === 0) return new Set()
  const rows = await db
    .selectFrom("deliveries")
    .select("delivery_id")
    .where(sql<boolean>`delivery_id = any(${[...new Set(ids)]}::text[])`)
    .execute()
  return new Set(rows.map((r) => r.delivery_id))
}

const readPage = async (db: Kysely<Database>, query: { topic?: string; after: number; limit: number }) => {
  const base = db.selectFrom("events").selectAll()
  const rows =
    query.topic === undefined
      ? await base
          .where("pos", ">", query.after)
          .where(sql<boolean>`pos < ${VISIBLE_BELOW}`)
          .orderBy("pos")
          .limit(query.limit)
          .execute()
      : await base
          .where("topic", "=", query.topic)
          .where("offset", ">", query.after)
          .orderBy("offset")
          .limit(query.limit)
          .execute()
  const last = rows.at(-1)
  const nextAfter =
    rows.length < query.limit || last === undefined ? null : Number(query.topic === undefined ? last.pos : last.offset)
  return { events: rows.map(toStoredEvent), nextAfter }
}

const readStats = async (db: Kysely<Database>) => {
  const rows = await db
    .selectFrom("topics")
    .select(["topic", "unique_count", "duplicates", "conflicts"])
    .orderBy("topic")
    .execute()
  return Stats.sumTopics(
    rows.map((r) => ({
      topic: r.topic,
      unique: Number(r.unique_count),
      duplicates: Number(r.duplicates),
      conflicts: Number(r.conflicts)
    }))
  )
}

// ----------------------------------------------------------------------------------------------------------------
// Effect boundary

const use = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => toEventStoreError(operation, cause) })

/**
 * The store on an open Kysely instance (migrated or not: `make` migrates first). The caller owns `db`.
 * @category constructors
 */
export const make = (db: Kysely<Database>) =>
  Effect.gen(function* () {
    yield* use("migrate", () => migrateToLatest(db))
    return EventStore.EventStore.of({
      commit: (batch) =>
        batch.length === 0
          ? Effect.succeed([])
          : use("commit", () => commitBatch(db, batch)).pipe(Effect.withSpan("PgEventStore.commit")),
      committed: (ids) => use("committed", () => committedIds(db, ids)),
      read: (query) => use("read", () => readPage(db, query)),
      stats: use("stats", () => readStats(db))
    })
  })

const scoped = (acquire: () => Kysely<Database>) =>
  Effect.acquireRelease(Effect.try({ try: acquire, catch: (cause) => toEventStoreError("open", cause) }), (db) =>
    Effect.promise(() => db.destroy())
  )

/** Kysely on a node-postgres pool. @category constructors */
export const makeKysely = (config: PgConfig): Kysely<Database> => {
  const pool = new pg.Pool({
    connectionString: Redacted.isRedacted(config.url) ? Redacted.value(config.url) : config.url,
    max: config.poolSize ?? 10,
    connectionTimeoutMillis: config.connectTimeoutMs ?? 10_000
  })
  // A client whose server connection dies emits 'error' (on the pool when idle, on the client when checked out);
  // without listeners Node would crash. The failing query rejects on its own (and is classified), the pool drops
  // the broken client, and the next checkout opens a fresh connection.
  pool.on("error", () => undefined)
  pool.on("connect", (client) => client.on("error", () => undefined))
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
}

/** Kysely on PGlite (in memory without `dataDir`; the directory and its parents are created). @category constructors */
export const makePgliteKysely = (config: PgliteConfig = {}): Kysely<Database> => {
  // PGlite creates only the last level of its data directory.
  if (config.dataDir !== undefined) mkdirSync(config.dataDir, { recursive: true })
  return new Kysely<Database>({ dialect: new PGliteDialect({ pglite: new PGlite(config.dataDir) }) })
}

/**
 * Migrate a PostgreSQL database to the latest schema and close the connection: for tools and test set-up (e.g.
 * `createTestDatabase({ setup: (url) => PgEventStore.migrate({ url }) })`). The layers migrate by themselves.
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

/**
 * `EventStore` on PostgreSQL: opens the pool, migrates (under an advisory lock), closes the pool on release.
 * @category layers
 */
export const layer = (config: PgConfig): Layer.Layer<EventStore.EventStore, EventStore.EventStoreError> =>
  Layer.effect(
    EventStore.EventStore,
    Effect.flatMap(
      scoped(() => makeKysely(config)),
      make
    )
  )

/**
 * `EventStore` on PGlite: a data directory (the embedded default) or in memory; closed on release.
 * @category layers
 */
export const layerPglite = (
  config: PgliteConfig = {}
): Layer.Layer<EventStore.EventStore, EventStore.EventStoreError> =>
  Layer.effect(
    EventStore.EventStore,
    Effect.flatMap(
      scoped(() => makePgliteKysely(config)),
      make
    )
  )
