/**
 * `EventStore` on Kysely: one implementation, run on PostgreSQL through node-postgres (`layer`; the pool lives in
 * `PgConnection`) and on PGlite, in memory or in a data directory (`layerPglite` of `@agg/storage/pglite`, the
 * embedded default). This module opens no connection itself: `make` takes an open Kysely instance.
 *
 * A commit is one call of the PL/pgSQL function `agg_commit` (installed by a migration): it locks the batch's
 * `topics` rows in name order, records the delivery entries (an entry recorded before is `Redelivered`),
 * classifies against the stored content hashes, numbers the new events from the locked counts, inserts them and
 * updates the counters. Everything that needs no lock (content hashes, payload JSON, entry id parsing) happens
 * here, before the call. See docs/design.md, "The commit: one call of `agg_commit`" and "Per-topic locks in name
 * order".
 *
 * A read of all topics pages by `pos = xid * 2^16 + rank` and returns only rows below the visibility horizon
 * (`VISIBLE_BELOW`), so no commit can ever add a row below a position a read returned; the price is that a commit
 * shows there only once every older write transaction in this database has finished. Bounds: a commit inserts at
 * most 2^16 new events, and `pos` stays an exact JS number while xid < 2^37. See docs/design.md, "All-topics
 * order". Records of committed entries are forgotten below the log's delivery floor (`forget`; docs/design.md,
 * "Delivery records"). On PGlite (one connection) transactions run one at a time.
 *
 * @remarks Does not retry (errors are classified by `PgError` and returned), does not own the schema beyond
 * running the migrations at start-up.
 */

import { ContentHash, EventLog, EventStore, Stats } from "@agg/core"
import type { StoredConflict, StoredEvent } from "@agg/schema"
import { Clock, type Config, Duration, Effect, Layer, Option } from "effect"
import { type Kysely, sql } from "kysely"
import type { Database, EventRow } from "./Database.ts"
import { migrateToLatest } from "./Migrations.ts"
import { makeKysely, type PgConfig, scoped, urlConfig } from "./PgConnection.ts"
import { toEventStoreError } from "./PgError.ts"

// ----------------------------------------------------------------------------------------------------------------
// SQL (plain async Kysely functions; the Effect boundary is `make`)

/** Bits of `pos` below the xid: a commit inserts at most 2^RANK_BITS new events (docs/design.md, "All-topics order"). */
const RANK_BITS = 16
const RANK_LIMIT = 2 ** RANK_BITS

/**
 * Most new events one commit may insert (2^16). Callers that size commits (the api's group commit and request
 * limit, the worker's batch size) must stay at or below it. @category models
 */
export const maxEventsPerCommit = RANK_LIMIT

/**
 * `horizon * 2^RANK_BITS` as a bigint expression. `horizon` is the lowest xid that may still commit rows into this
 * database: the oldest in-progress xid of the snapshot, skipping those `pg_stat_activity` shows running in another
 * database, and at most the snapshot's `xmax` (docs/design.md, "All-topics order"). Both `pg_current_snapshot()`
 * calls return the statement's snapshot, the one its scan of `events` uses.
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

/**
 * The whole commit: one call of `agg_commit` (installed by a migration), one round trip. On `db` it runs in its own
 * implicit transaction, so the topic locks are held only while the function runs and commits; on an open
 * transaction (the `Inbox`) they are held until that transaction ends. Returns one outcome per delivery.
 */
export const commitBatch = async (
  db: Kysely<Database>,
  batch: ReadonlyArray<EventStore.Delivery>
): Promise<Array<EventStore.Outcome>> => {
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
    .where(IS_TOPIC)
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

// A commit creates the rows of all its topics before it knows whether anything will be counted (a batch of
// redeliveries counts nothing): such a row is not a topic yet.
const IS_TOPIC = sql<boolean>`unique_count + duplicates > 0`

// Along the primary key from `after`: the cost is the page's, whatever the number of topics.
const pageTopics = async (db: Kysely<Database>, query: EventStore.TopicQuery): Promise<EventStore.TopicPage> => {
  const rows = await db
    .selectFrom("topics")
    .select(["topic", "unique_count", "duplicates", "conflicts"])
    .where("topic", ">", query.after)
    .where(IS_TOPIC)
    .orderBy("topic")
    .limit(query.limit)
    .execute()
  const topics = rows.map((r) => ({
    topic: r.topic,
    unique: Number(r.unique_count),
    duplicates: Number(r.duplicates),
    conflicts: Number(r.conflicts)
  }))
  return { topics, nextAfter: topics.at(-1)?.topic ?? query.after }
}

// The one statement that reads every topic row; `totals` runs it at most once per `totalsMaxAge`.
const aggregateTotals = async (db: Kysely<Database>): Promise<EventStore.StoreTotals> => {
  const { rows } = await sql<{ unique: string; duplicates: string; conflicts: string; topics: string }>`
    SELECT coalesce(sum(unique_count), 0)::text AS unique, coalesce(sum(duplicates), 0)::text AS duplicates,
           coalesce(sum(conflicts), 0)::text AS conflicts, count(*)::text AS topics
    FROM topics WHERE ${IS_TOPIC}`.execute(db)
  const r = rows[0]!
  return {
    unique: Number(r.unique),
    duplicates: Number(r.duplicates),
    conflicts: Number(r.conflicts),
    topicCount: Number(r.topics)
  }
}

// What a commit's outcomes add to the totals. A topic's first counted event is always New at offset 1 (a
// duplicate needs a stored event of its topic), so those count the new topics.
const addOutcomes = (totals: EventStore.StoreTotals, outcomes: ReadonlyArray<EventStore.Outcome>) => {
  let { unique, duplicates, conflicts, topicCount } = totals
  for (const o of outcomes) {
    if (o._tag === "New") {
      unique++
      if (o.offset === 1) topicCount++
    } else if (o._tag === "Duplicate") duplicates++
    else if (o._tag === "Conflict") {
      duplicates++
      conflicts++
    }
  }
  return { unique, duplicates, conflicts, topicCount }
}

// ----------------------------------------------------------------------------------------------------------------
// Effect boundary

const use = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => toEventStoreError(operation, cause) })

/** Options of `make`. @category models */
export interface MakeOptions {
  /**
   * How `totals` stays cheap. A duration (default 1 second): other processes write too, so the aggregate over
   * the topics is read again once it is older than this (concurrent callers share one read), and this store's
   * own commits since are added to it; another writer's commits show within that bound. `"single-writer"`: this
   * process is the database's only writer (PGlite), so the aggregate is read once, at start, and every commit
   * is added to it: exact, never a scan again.
   */
  readonly totalsMaxAge?: Duration.Input | "single-writer"
  /**
   * The commit, when it does more than `commitBatch` on `db` (the `Inbox` runs it and the service's handler in
   * one transaction). Everything else, `totals` included, stays this store's.
   */
  readonly commitWith?: (
    batch: ReadonlyArray<EventStore.Delivery>
  ) => Effect.Effect<ReadonlyArray<EventStore.Outcome>, EventStore.EventStoreError>
}

/**
 * The store on an open Kysely instance (migrated or not: `make` migrates first). The caller owns `db`.
 * @category constructors
 */
export const make = (db: Kysely<Database>, options: MakeOptions = {}) =>
  Effect.gen(function* () {
    yield* use("migrate", () => migrateToLatest(db))
    const maxAge = options.totalsMaxAge ?? "1 second"
    const maxAgeMs =
      maxAge === "single-writer" ? Number.POSITIVE_INFINITY : Duration.toMillis(Duration.fromInputUnsafe(maxAge))
    // The aggregate, when its read ended, and what this store's commits added since. A commit adds only when it
    // started after that read ended (`generation` unchanged): an older one may already be in the aggregate.
    let base = maxAge === "single-writer" ? yield* use("totals", () => aggregateTotals(db)) : undefined
    let baseAt = 0
    let generation = 0
    let refreshing: Promise<void> | undefined
    const refresh = (now: number) =>
      (refreshing ??= aggregateTotals(db)
        .then((fresh) => {
          base = fresh
          baseAt = now
          generation++
        })
        .finally(() => {
          refreshing = undefined
        }))
    const totals = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (base === undefined || now - baseAt > maxAgeMs) yield* use("totals", () => refresh(now))
      return base!
    })
    const commit = (batch: ReadonlyArray<EventStore.Delivery>) =>
      Effect.suspend(() => {
        const startedIn = generation
        const committing = options.commitWith?.(batch) ?? use("commit", () => commitBatch(db, batch))
        return committing.pipe(
          Effect.tap((outcomes) =>
            Effect.sync(() => {
              if (base !== undefined && startedIn === generation) base = addOutcomes(base, outcomes)
            })
          )
        )
      })
    return EventStore.EventStore.of({
      commit: (batch) =>
        batch.length === 0 ? Effect.succeed([]) : commit(batch).pipe(Effect.withSpan("PgEventStore.commit")),
      committed: (ids) => use("committed", () => committedIds(db, ids)),
      read: (query) => use("read", () => readPage(db, query)),
      lookup: (key) => use("lookup", () => lookupEvent(db, key)),
      conflicts: (query) => use("conflicts", () => readConflicts(db, query)),
      cursorAt: (query) => use("cursorAt", () => cursorAtTime(db, query)),
      stats: use("stats", () => readStats(db)),
      totals,
      topics: (query) => use("topics", () => pageTopics(db, query)),
      ping: use("ping", () => sql`SELECT 1`.execute(db)).pipe(Effect.asVoid),
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
