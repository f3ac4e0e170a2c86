/**
 * Baseline "seed style": the naive idempotent consumer the project replaces: per event, one transaction with an
 * `INSERT … ON CONFLICT DO NOTHING` and a counter update (unique or duplicate), then COMMIT, so one WAL flush and
 * four round trips per event. Run on a prefix of the sequence and extrapolated to the full count.
 *
 * @remarks Single connection, no batching, no offsets: the seed-style reference figure (~1,078 ev/s on the
 * development machine) measured the same shape. Runs in its own tables of the database it is given.
 */
import type pg from "pg"
import { bodyColumns, type EventSequence } from "../Events.ts"

export interface SeedConsumerResult {
  readonly events: number
  readonly seconds: number
  readonly eventsPerSec: number
  /** Seconds the full sequence would take at this rate. */
  readonly extrapolatedSeconds: number
  readonly extrapolatedFor: number
  readonly verified: boolean
}

const DDL = [
  `CREATE TABLE seed_events (
     topic text NOT NULL, event_id text NOT NULL, ts timestamptz NOT NULL, source text NOT NULL,
     payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (topic, event_id))`,
  `CREATE TABLE seed_stats (id int PRIMARY KEY, unique_processed bigint NOT NULL, duplicate_dropped bigint NOT NULL)`,
  `INSERT INTO seed_stats VALUES (1, 0, 0)`
]

/** Consume `sample` (a prefix of the full sequence) one event per transaction; extrapolate to `fullEvents`. */
export const runSeedConsumer = async (
  client: pg.Client,
  sample: EventSequence,
  fullEvents: number
): Promise<SeedConsumerResult> => {
  for (const statement of DDL) await client.query(statement)
  const events = sample.bodies.flatMap(bodyColumns)
  const started = performance.now()
  for (const e of events) {
    await client.query("BEGIN")
    const inserted = await client.query(
      `INSERT INTO seed_events (topic, event_id, ts, source, payload) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (topic, event_id) DO NOTHING`,
      [e.topic, e.event_id, e.timestamp, e.source, e.payload]
    )
    await client.query(
      inserted.rowCount === 1
        ? "UPDATE seed_stats SET unique_processed = unique_processed + 1 WHERE id = 1"
        : "UPDATE seed_stats SET duplicate_dropped = duplicate_dropped + 1 WHERE id = 1"
    )
    await client.query("COMMIT")
  }
  const seconds = (performance.now() - started) / 1000
  const stats = (
    await client.query<{ u: string; d: string }>(
      "SELECT unique_processed::text AS u, duplicate_dropped::text AS d FROM seed_stats WHERE id = 1"
    )
  ).rows[0]
  const eventsPerSec = events.length / seconds
  return {
    events: events.length,
    seconds,
    eventsPerSec,
    extrapolatedSeconds: fullEvents / eventsPerSec,
    extrapolatedFor: fullEvents,
    verified: Number(stats?.u) === sample.unique && Number(stats?.d) === sample.duplicates
  }
}
