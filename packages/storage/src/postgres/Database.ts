/**
 * Kysely table types of the event store. int8 columns are typed `number | string`: node-postgres returns them as
 * strings, kysely's PGliteDialect as numbers; the mappers in `PgEventStore.ts` normalise with `Number(...)`.
 *
 * @remarks Types only: the DDL lives in the frozen migrations, which do not import this file.
 */
import type { ColumnType, Selectable } from "kysely"

type Int8 = ColumnType<number | string, number | string, number | string>

/** One row per stored (deduplicated) event. */
export interface EventsTable {
  /**
   * Position in the all-topics order: xid of the inserting transaction * 2^16 + the row's rank in its insert
   * (see `PgEventStore`). At most 2^53 - 1 (a check constraint), so it is an exact JS number.
   */
  pos: Int8
  topic: string
  event_id: string
  /** Per-topic, gap-free, from 1. */
  offset: Int8
  ts: ColumnType<Date, Date | string, Date | string>
  source: string
  payload: ColumnType<unknown, string, string>
  /** `contentHash` of @agg/core over timestamp, source and payload. */
  content_hash: string
  received_at: ColumnType<Date, Date | string | undefined, never>
}

/** One row per topic: its lock (taken by every commit touching it) and its counters. */
export interface TopicsTable {
  topic: string
  /** Number of stored events = highest offset. */
  unique_count: ColumnType<number | string, number | string | undefined, number | string>
  duplicates: ColumnType<number | string, number | string | undefined, number | string>
  conflicts: ColumnType<number | string, number | string | undefined, number | string>
}

/**
 * Broker entries (stream and `<ms>-<seq>` id, as numbers) of committed batches, to recognise redeliveries.
 * Written by `agg_commit`.
 */
export interface DeliveriesTable {
  stream: string
  ms: Int8
  seq: Int8
  committed_at: ColumnType<Date, Date | string | undefined, never>
}

/** Rejected later versions of keys, at most 10 per key; `pos` orders them like `events.pos`. Written by `agg_commit`. */
export interface ConflictsTable {
  pos: Int8
  topic: string
  event_id: string
  /** Which rejected version of its key, from 1. */
  n: number
  ts: ColumnType<Date, Date | string, Date | string>
  source: string
  payload: ColumnType<unknown, string, string>
  content_hash: string
  seen_at: ColumnType<Date, Date | string | undefined, never>
}

/** How many versions of a key were rejected in all. Written by `agg_commit`. */
export interface ConflictKeysTable {
  topic: string
  event_id: string
  total: Int8
}

export interface Database {
  events: EventsTable
  topics: TopicsTable
  deliveries: DeliveriesTable
  conflicts: ConflictsTable
  conflict_keys: ConflictKeysTable
}

export type EventRow = Selectable<EventsTable>
