/**
 * Frozen migration: deliveries keyed by stream, and the commit as one PL/pgSQL function. Never edit once
 * released; add a new migration instead. Uses `Kysely<any>` and no app imports.
 *
 * `deliveries` is rebuilt as `(stream, ms, seq)`: an entry id is unique only within its stream, and the numeric
 * columns let the prune compare ids as numbers (`…-10` after `…-9`). The previous table's raw ids cannot be told
 * apart by stream, and the Redis key layout that comes with this release refuses to start on the old stream, so
 * those ids can never be delivered again: the table is dropped, not converted.
 *
 * `conflicts` keeps the rejected later versions of keys that arrived again with other content, at most
 * 10 per key (the first ones), with `conflict_keys` counting all of them; written by the same commit. Its
 * `pos` works like `events.pos`, so a reader paging it never misses a row committed concurrently.
 *
 * Two indexes serve reads that start at a time (`since`): per topic (topic, received_at), and a small BRIN index
 * over received_at for all topics (rows arrive in time order, so block ranges are tight).
 *
 * `agg_commit` does a whole commit in one call (one round trip), so the topic locks are held only while it runs
 * and its transaction commits. It is a function, not one statement with data-modifying CTEs: every statement of a
 * function gets a fresh snapshot, taken after the lock wait, so it sees what the previous lock holder committed.
 * One statement would read with a snapshot from before the wait.
 */
import { type Kysely, sql } from "kysely"

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time and must not depend on app types
export const up = async (db: Kysely<any>): Promise<void> => {
  await db.schema.dropTable("deliveries").execute()
  await db.schema
    .createTable("deliveries")
    .addColumn("stream", "text", (c) => c.notNull())
    .addColumn("ms", "bigint", (c) => c.notNull())
    .addColumn("seq", "bigint", (c) => c.notNull())
    .addColumn("committed_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("deliveries_pkey", ["stream", "ms", "seq"])
    .execute()

  await db.schema
    .createTable("conflict_keys")
    .addColumn("topic", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("total", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("conflict_keys_pkey", ["topic", "event_id"])
    .execute()
  await db.schema
    .createTable("conflicts")
    .addColumn("pos", "bigint", (c) => c.primaryKey())
    .addColumn("topic", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("n", "integer", (c) => c.notNull())
    .addColumn("ts", "timestamptz", (c) => c.notNull())
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("payload", "jsonb", (c) => c.notNull())
    .addColumn("content_hash", "text", (c) => c.notNull())
    .addColumn("seen_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("conflicts_topic_pos_key", ["topic", "pos"])
    .execute()
  await sql`CREATE INDEX events_topic_received_at_idx ON events (topic, received_at)`.execute(db)
  await sql`CREATE INDEX events_received_at_brin ON events USING brin (received_at)`.execute(db)

  // Inputs are one array per field, in the batch's order; p_dstream is null for a delivery without an entry
  // (direct mode). Output: one verdict character per input (N new, D duplicate, C conflict, R redelivered) and the
  // offsets (null but for N). Semantics are those of @agg/core's CommitPlan, which tests compare it with.
  await sql`
CREATE FUNCTION agg_commit(
  p_topic text[], p_event_id text[], p_ts timestamptz[], p_source text[], p_payload text[], p_hash text[],
  p_dstream text[], p_dms bigint[], p_dseq bigint[]
) RETURNS TABLE (verdicts text, offsets bigint[])
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_topics text[];
  v_fs text[];
  v_fm bigint[];
  v_fq bigint[];
  v_verdicts text[];
  v_offsets bigint[];
  v_new bigint;
BEGIN
  SELECT array_agg(DISTINCT t ORDER BY t) INTO v_topics FROM unnest(p_topic) AS t;
  INSERT INTO topics (topic) SELECT unnest(v_topics) ON CONFLICT (topic) DO NOTHING;
  -- Every writer locks its topics in name order: no deadlocks, and no global row that all writers share.
  PERFORM 1 FROM topics WHERE topic = ANY (v_topics) ORDER BY topic FOR UPDATE;

  -- The entries not returned here were recorded by an earlier commit: their events are redeliveries.
  WITH recorded AS (
    INSERT INTO deliveries (stream, ms, seq)
    SELECT DISTINCT d.s, d.m, d.q FROM unnest(p_dstream, p_dms, p_dseq) AS d(s, m, q)
    WHERE d.s IS NOT NULL ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
    RETURNING stream, ms, seq)
  SELECT array_agg(stream), array_agg(ms), array_agg(seq) INTO v_fs, v_fm, v_fq FROM recorded;

  WITH inp AS (
    SELECT u.*, row_number() OVER (PARTITION BY u.s, u.m, u.q ORDER BY u.i) AS dn
    FROM unnest(p_topic, p_event_id, p_hash, p_dstream, p_dms, p_dseq)
      WITH ORDINALITY AS u(topic, event_id, hash, s, m, q, i)
  ),
  fresh AS (SELECT * FROM unnest(v_fs, v_fm, v_fq) AS f(s, m, q)),
  live AS (
    SELECT inp.i, inp.topic, inp.event_id, inp.hash,
      row_number() OVER (PARTITION BY inp.topic, inp.event_id ORDER BY inp.i) AS occ,
      first_value(inp.hash) OVER (PARTITION BY inp.topic, inp.event_id ORDER BY inp.i) AS first_hash
    FROM inp LEFT JOIN fresh ON fresh.s = inp.s AND fresh.m = inp.m AND fresh.q = inp.q
    WHERE inp.s IS NULL OR (inp.dn = 1 AND fresh.s IS NOT NULL)
  ),
  classified AS (
    SELECT live.i, live.topic,
      CASE WHEN e.content_hash IS NULL AND live.occ = 1 THEN 'N'
           WHEN coalesce(e.content_hash, live.first_hash) = live.hash THEN 'D'
           ELSE 'C' END AS verdict
    FROM live LEFT JOIN events e ON e.topic = live.topic AND e.event_id = live.event_id
  ),
  numbered AS (
    SELECT c.i, c.verdict,
      CASE WHEN c.verdict = 'N'
        THEN t.unique_count + row_number() OVER (PARTITION BY c.topic, c.verdict = 'N' ORDER BY c.i) END AS off
    FROM classified c JOIN topics t ON t.topic = c.topic
  )
  SELECT array_agg(coalesce(n.verdict, 'R') ORDER BY g.i), array_agg(n.off ORDER BY g.i)
  INTO v_verdicts, v_offsets
  FROM generate_subscripts(p_topic, 1) AS g(i) LEFT JOIN numbered n ON n.i = g.i;

  SELECT count(*) INTO v_new FROM unnest(v_verdicts) AS v WHERE v = 'N';
  IF v_new > 65536 THEN
    RAISE EXCEPTION 'a commit may insert at most 65536 new events, this batch has %', v_new
      USING ERRCODE = 'program_limit_exceeded';
  END IF;

  -- pos = xid * 2^16 + rank in this, the transaction's only insert into events (see PgEventStore).
  INSERT INTO events (pos, topic, event_id, "offset", ts, source, payload, content_hash)
  SELECT pg_current_xact_id()::text::bigint * 65536 + row_number() OVER (ORDER BY u.i) - 1,
         u.topic, u.event_id, u.off, u.ts, u.source, u.payload::jsonb, u.hash
  FROM unnest(p_topic, p_event_id, p_ts, p_source, p_payload, p_hash, v_verdicts, v_offsets)
    WITH ORDINALITY AS u(topic, event_id, ts, source, payload, hash, verdict, off, i)
  WHERE u.verdict = 'N';

  -- Rejected versions: the first 10 per key are kept (in arrival order), all are counted.
  WITH rejected AS (
    SELECT u.topic, u.event_id, u.ts, u.source, u.payload, u.hash, u.i,
      row_number() OVER (PARTITION BY u.topic, u.event_id ORDER BY u.i) AS k,
      count(*) OVER (PARTITION BY u.topic, u.event_id) AS cnt
    FROM unnest(p_topic, p_event_id, p_ts, p_source, p_payload, p_hash, v_verdicts)
      WITH ORDINALITY AS u(topic, event_id, ts, source, payload, hash, verdict, i)
    WHERE u.verdict = 'C'
  ),
  counted AS (
    INSERT INTO conflict_keys AS ck (topic, event_id, total)
    SELECT topic, event_id, count(*) FROM rejected GROUP BY topic, event_id
    ON CONFLICT (topic, event_id) DO UPDATE SET total = ck.total + excluded.total
    RETURNING ck.topic, ck.event_id, ck.total
  )
  INSERT INTO conflicts (pos, topic, event_id, n, ts, source, payload, content_hash)
  SELECT pg_current_xact_id()::text::bigint * 65536 + row_number() OVER (ORDER BY r.i) - 1,
         r.topic, r.event_id, c.total - r.cnt + r.k, r.ts, r.source, r.payload::jsonb, r.hash
  FROM rejected r JOIN counted c ON c.topic = r.topic AND c.event_id = r.event_id
  WHERE c.total - r.cnt + r.k <= 10;

  UPDATE topics SET
    unique_count = topics.unique_count + c.n,
    duplicates = topics.duplicates + c.d,
    conflicts = topics.conflicts + c.c
  FROM (
    SELECT u.topic,
      count(*) FILTER (WHERE u.v = 'N') AS n,
      count(*) FILTER (WHERE u.v IN ('D', 'C')) AS d,
      count(*) FILTER (WHERE u.v = 'C') AS c
    FROM unnest(p_topic, v_verdicts) AS u(topic, v) WHERE u.v <> 'R' GROUP BY u.topic
  ) c
  WHERE topics.topic = c.topic;

  RETURN QUERY SELECT array_to_string(v_verdicts, ''), v_offsets;
END
$fn$`.execute(db)
}

// biome-ignore lint/suspicious/noExplicitAny: see up
export const down = async (db: Kysely<any>): Promise<void> => {
  await sql`DROP FUNCTION agg_commit`.execute(db)
  await sql`DROP INDEX events_received_at_brin`.execute(db)
  await sql`DROP INDEX events_topic_received_at_idx`.execute(db)
  await db.schema.dropTable("conflicts").execute()
  await db.schema.dropTable("conflict_keys").execute()
  await db.schema.dropTable("deliveries").execute()
  await db.schema
    .createTable("deliveries")
    .addColumn("delivery_id", "text", (c) => c.primaryKey())
    .addColumn("committed_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
}
