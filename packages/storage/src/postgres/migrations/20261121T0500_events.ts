/**
 * Frozen migration: events, topics and deliveries. Never edit once released; add a new migration instead.
 * Uses `Kysely<any>` and no app imports, so later type changes cannot alter what it does.
 */
import { type Kysely, sql } from "kysely"

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time and must not depend on app types
export const up = async (db: Kysely<any>): Promise<void> => {
  await db.schema
    .createTable("topics")
    .addColumn("topic", "text", (c) => c.primaryKey())
    .addColumn("unique_count", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("duplicates", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("conflicts", "bigint", (c) => c.notNull().defaultTo(0))
    .execute()

  await db.schema
    .createTable("events")
    // Position in the all-topics order (see PgEventStore): the inserting transaction's xid * 2^16 + the row's rank
    // in that transaction. Assigned by the commit, never by a sequence. Capped to stay an exact JS number.
    .addColumn("pos", "bigint", (c) => c.primaryKey())
    .addColumn("topic", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("offset", "bigint", (c) => c.notNull())
    .addColumn("ts", "timestamptz", (c) => c.notNull())
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("payload", "jsonb", (c) => c.notNull())
    .addColumn("content_hash", "text", (c) => c.notNull())
    .addColumn("received_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    // dedup lookups by key; reads of a topic after an offset
    .addUniqueConstraint("events_topic_event_id_key", ["topic", "event_id"])
    .addUniqueConstraint("events_topic_offset_key", ["topic", "offset"])
    .addCheckConstraint("events_pos_js_safe", sql`pos between 0 and 9007199254740991`)
    .execute()

  await db.schema
    .createTable("deliveries")
    .addColumn("delivery_id", "text", (c) => c.primaryKey())
    .addColumn("committed_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
}

// biome-ignore lint/suspicious/noExplicitAny: see up
export const down = async (db: Kysely<any>): Promise<void> => {
  await db.schema.dropTable("deliveries").execute()
  await db.schema.dropTable("events").execute()
  await db.schema.dropTable("topics").execute()
}
