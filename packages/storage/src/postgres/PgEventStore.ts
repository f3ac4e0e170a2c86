/**
 * `EventStore` on Kysely: one implementation, run on PostgreSQL through node-postgres (`layer`; the pool lives in
 * `PgConnection`) and on PGlite, in memory or in a data directory (`layerPglite` of `@agg/storage/pglite`, the
 * embedded default). This module opens no connection itself: `make` takes an open Kysely instance.
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

import { ContentHash, EventLog, EventStore, Stats } from "@agg/core"
import type { StoredConflict, StoredEvent } from "@agg/schema"
import { type Config, Duration, Effect, Layer, Option } from "effect"
import { type Kysely, sql } from "kysely"
import type { Database, EventRow } from "./Database.ts"
import { migrateToLatest } from "./Migrations.ts"
import { makeKysely, type PgConfig, scoped, urlConfig } from "./PgConnection.ts"
import { toEventStoreError } from "./PgError.ts"

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

// A broker entry id as the numbers `deliveries` stores, so ids compare numerically (`…-10` after `…-9`).
const ENTRY_ID = /^(\d{1,19})-(\d{1,19})$/

const entryIdParts = (ref: EventLog.EntryRef): readonly [string, string] => {
  const match = ENTRY_ID.exec(ref.id)
  if (match === null) {
    throw new RangeError(`delivery ${JSON.stringify(ref.id)} of stream ${ref.stream} is not a <ms>-<seq> entry id`)
  }
  return [match[1]!, match[2]!]
}

/**
 * The `agg_commit` arguments: one array per field, in batch order. Everything that needs no lock happens here,
 * before the call: content hashes, payload JSON, entry id parsing.
 */
const commitArguments = (batch: ReadonlyArray<EventStore.Delivery>) => {
  const n = batch.length
  const topic = new Array<string>(n)
  const eventId = new Array<string>(n)
  const ts = new Array<string>(n)
  const source = new Array<string>(n)
  const payload = new Array<string>(n)
  const hash = new Array<string>(n)
  const stream = new Array<string | null>(n)
  const ms = new Array<string | null>(n)
  const seq = new Array<string | null>(n)
  for (let i = 0; i < n; i++) {
    const { event, deliveryId } = batch[i]!
    topic[i] = event.topic
    eventId[i] = event.event_id
    ts[i] = event.timestamp
    source[i] = event.source
    payload[i] = JSON.stringify(event.payload)
    hash[i] = ContentHash.contentHash(event)
    if (deliveryId === undefined) {
      stream[i] = ms[i] = seq[i] = null
    } else {
      ;[ms[i], seq[i]] = entryIdParts(deliveryId)
      stream[i] = deliveryId.stream
    }
  }
  return { topic, eventId, ts, source, payload, hash, stream, ms, seq }
}

const toOutcome = (verdict: string, offset: number | string | null | undefined): EventStore.Outcome => {
  switch (verdict) {
    case "N":
      return { _tag: "New", offset: Number(offset) }
    case "D":
      return { _tag: "Duplicate" }
    case "C":
      return { _tag: "Conflict" }
    default:
      return { _tag: "Redelivered" }
  }
}

// The whole commit is one call of `agg_commit` (installed by a migration), in its own implicit transaction: one
// round trip, and the topic locks are held only while the function runs and commits.
const commitBatch = async (db: Kysely<Database>, batch: ReadonlyArray<EventStore.Delivery>) => {
  const a = commitArguments(batch)
  const { rows } = await sql<{ verdicts: string; offsets: ReadonlyArray<number | string | null> }>`
    SELECT verdicts, offsets FROM agg_commit(
      ${a.topic}::text[], ${a.eventId}::text[], ${a.ts}::timestamptz[], ${a.source}::text[], ${a.payload}::text[],
      ${a.hash}::text[], ${a.stream}::text[], ${a.ms}::bigint[], ${a.seq}::bigint[])`.execute(db)
  const { verdicts, offsets } = rows[0]!
  return Array.from(verdicts, (verdict, i) => toOutcome(verdict, offsets[i]))
}

// One primary-key lookup per entry on `deliveries`; events are not touched.
const committedIds = async (
  db: Kysely<Database>,
  refs: ReadonlyArray<EventLog.EntryRef>
): Promise<ReadonlySet<string>> => {
  if (refs.length === 0) return new Set()
  const parts = refs.map(entryIdParts)
  const { rows } = await sql<{ stream: string; ms: number | string; seq: number | string }>`
    SELECT d.stream, d.ms, d.seq FROM deliveries d
    JOIN unnest(${refs.map((r) => r.stream)}::text[], ${parts.map((p) => p[0])}::bigint[],
                ${parts.map((p) => p[1])}::bigint[]) AS k(stream, ms, seq)
      ON d.stream = k.stream AND d.ms = k.ms AND d.seq = k.seq`.execute(db)
  return new Set(rows.map((r) => EventLog.refKey({ stream: r.stream, id: `${r.ms}-${r.seq}` })))
}

/** Most records one `forget` call removes, so a backlog of them never makes one long statement. */
const FORGET_LIMIT = 10_000

// The oldest records first, along the primary key: a range scan from the start of the stream's ids.
const forgetBelow = async (db: Kysely<Database>, floor: EventLog.EntryRef, olderThanMs: number) => {
  const [ms, seq] = entryIdParts(floor)
  const result = await sql`
    DELETE FROM deliveries d USING (
      SELECT stream, ms, seq FROM deliveries
      WHERE stream = ${floor.stream} AND (ms, seq) < (${ms}::bigint, ${seq}::bigint)
        AND committed_at <= now() - ${olderThanMs} * interval '1 millisecond'
      ORDER BY ms, seq LIMIT ${sql.lit(FORGET_LIMIT)}
    ) old
    WHERE d.stream = old.stream AND d.ms = old.ms AND d.seq = old.seq`.execute(db)
  return Number(result.numAffectedRows ?? 0)
}

const readPage = async (db: Kysely<Database>, query: { topic?: string; after: number; limit: number }) => {
  const base = db.selectFrom("events").selectAll()
  if (query.topic === undefined) {
    const rows = await base
      .where("pos", ">", query.after)
      .where(sql<boolean>`pos < ${VISIBLE_BELOW}`)
      .orderBy("pos")
      .limit(query.limit)
      .execute()
    const events = rows.map((row) => ({ ...toStoredEvent(row), position: Number(row.pos) }))
    return { events, nextAfter: events.at(-1)?.position ?? query.after }
  }
  const rows = await base
    .where("topic", "=", query.topic)
    .where("offset", ">", query.after)
    .orderBy("offset")
    .limit(query.limit)
    .execute()
  const events = rows.map(toStoredEvent)
  return { events, nextAfter: events.at(-1)?.offset ?? query.after }
}

const lookupEvent = async (db: Kysely<Database>, key: { readonly topic: string; readonly event_id: string }) => {
  const row = await db
    .selectFrom("events")
    .selectAll()
    .where("topic", "=", key.topic)
    .where("event_id", "=", key.event_id)
    .executeTakeFirst()
  return Option.map(Option.fromUndefinedOr(row), toStoredEvent)
}

// Positions of conflicts work like those of events: a read returns only rows below the horizon, so a commit still
// running can never add one below a returned position.
const readConflicts = async (db: Kysely<Database>, query: { topic?: string; after: number; limit: number }) => {
  let q = db
    .selectFrom("conflicts as c")
    .innerJoin("events as e", (j) => j.onRef("e.topic", "=", "c.topic").onRef("e.event_id", "=", "c.event_id"))
    .innerJoin("conflict_keys as k", (j) => j.onRef("k.topic", "=", "c.topic").onRef("k.event_id", "=", "c.event_id"))
    .select([
      "c.pos",
      "c.topic",
      "c.event_id",
      "c.n",
      "c.ts",
      "c.source",
      "c.payload",
      "c.seen_at",
      "e.offset",
      "k.total"
    ])
    .where("c.pos", ">", query.after)
    .where(sql<boolean>`c.pos < ${VISIBLE_BELOW}`)
  if (query.topic !== undefined) q = q.where("c.topic", "=", query.topic)
  const rows = await q.orderBy("c.pos").limit(query.limit).execute()
  const conflicts = rows.map(
    (r): StoredConflict => ({
      topic: r.topic,
      event_id: r.event_id,
      timestamp: r.ts.toISOString(),
      source: r.source,
      payload: r.payload as StoredConflict["payload"],
      stored_offset: Number(r.offset),
      version: r.n,
      rejected: Number(r.total),
      seen_at: r.seen_at.toISOString(),
      position: Number(r.pos)
    })
  )
  return { conflicts, nextAfter: conflicts.at(-1)?.position ?? query.after }
}

// The lowest offset (position) received at or after `since`, so that no such event lies before the cursor; the end
// of the log when there is none. Index range scans only, over the events after `since`: (topic, received_at) for
// a topic, the BRIN index over received_at for all topics.
const cursorAtTime = async (db: Kysely<Database>, query: { readonly topic?: string; readonly since: string }) => {
  if (query.topic !== undefined) {
    const { rows } = await sql<{ cursor: number | string }>`
      SELECT coalesce(
        (SELECT min("offset") - 1 FROM events WHERE topic = ${query.topic} AND received_at >= ${query.since}::timestamptz),
        (SELECT unique_count FROM topics WHERE topic = ${query.topic}),
        0) AS cursor`.execute(db)
    return Number(rows[0]!.cursor)
  }
  const { rows } = await sql<{ cursor: number | string }>`
    SELECT coalesce(
      (SELECT min(pos) - 1 FROM events WHERE received_at >= ${query.since}::timestamptz),
      (SELECT max(pos) FROM events WHERE pos < ${VISIBLE_BELOW}),
      0) AS cursor`.execute(db)
  return Number(rows[0]!.cursor)
}

const readStats = async (db: Kysely<Database>) => {
  const rows = await db
    .selectFrom("topics")
    .select(["topic", "unique_count", "duplicates", "conflicts"])
    // A commit creates the rows of all its topics before it knows whether anything will be counted (a batch of
    // redeliveries counts nothing): such a row is not a topic yet.
    .where(sql<boolean>`unique_count + duplicates > 0`)
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
      lookup: (key) => use("lookup", () => lookupEvent(db, key)),
      conflicts: (query) => use("conflicts", () => readConflicts(db, query)),
      cursorAt: (query) => use("cursorAt", () => cursorAtTime(db, query)),
      stats: use("stats", () => readStats(db)),
      forget: (floor, options) => use("forget", () => forgetBelow(db, floor, Duration.toMillis(options.olderThan)))
    })
  })

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
 * `layer` with the URL from `DATABASE_URL` (required, kept `Redacted`); pool settings from the caller.
 * @category layers
 */
export const layerConfig = (
  options: Omit<PgConfig, "url"> = {}
): Layer.Layer<EventStore.EventStore, EventStore.EventStoreError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const url = yield* urlConfig
      return layer({ ...options, url })
    })
  )
