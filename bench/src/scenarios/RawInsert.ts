/**
 * Baseline "physical limit": one connection inserting the sequence in batches with
 * `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`, each batch sorted by (topic, event_id)
 * (a fixed key order is what keeps concurrent inserters deadlock-free, so the real system sorts too). Each batch
 * is its own autocommitted statement, so every batch pays one WAL flush, as a worker's commit does.
 *
 * The rate is offered events (duplicates included) per wall-clock second. The next batch is parsed and sorted
 * while the current one is in flight, so the client's own work does not leave PostgreSQL idle.
 *
 * @remarks No counters, offsets or delivery ids: this is the floor of what any consumer must pay, not a consumer.
 * Runs in its own table of the database it is given.
 */
import type pg from "pg"
import { bodyColumns, type EventColumns, type EventSequence } from "../Events.ts"

export interface RawInsertResult {
  readonly events: number
  readonly batchSize: number
  readonly seconds: number
  readonly eventsPerSec: number
  readonly rowsStored: number
  readonly verified: boolean
}

/** The baseline table: the event columns, a storage-order id and the dedup key as primary key. */
export const RAW_TABLE_DDL = `
  CREATE TABLE raw_events (
    id bigserial,
    topic text NOT NULL,
    event_id text NOT NULL,
    ts timestamptz NOT NULL,
    source text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
  )`

export const RAW_INSERT_SQL = `
  INSERT INTO raw_events (topic, event_id, ts, source, payload)
  SELECT t.topic, t.event_id, t.ts, t.source, t.payload::jsonb
  FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[]) AS t(topic, event_id, ts, source, payload)
  ON CONFLICT (topic, event_id) DO NOTHING`

const byKey = (a: EventColumns, b: EventColumns): number =>
  a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0

/** Column arrays of one batch, sorted by key, as the query's parameters. */
export const batchParams = (body: Buffer): Array<Array<string>> => {
  const rows = bodyColumns(body).sort(byKey)
  return [
    rows.map((r) => r.topic),
    rows.map((r) => r.event_id),
    rows.map((r) => r.timestamp),
    rows.map((r) => r.source),
    rows.map((r) => r.payload)
  ]
}

/** Insert every body of `sequence` through `client` (a fresh database); verify the stored row count. */
export const runRawInsert = async (client: pg.Client, sequence: EventSequence): Promise<RawInsertResult> => {
  await client.query(RAW_TABLE_DDL)
  const { bodies } = sequence
  let next = bodies.length > 0 ? batchParams(bodies[0]!) : undefined
  const started = performance.now()
  for (let i = 0; i < bodies.length; i++) {
    const inFlight = client.query(RAW_INSERT_SQL, next)
    next = i + 1 < bodies.length ? batchParams(bodies[i + 1]!) : undefined
    await inFlight
  }
  const seconds = (performance.now() - started) / 1000
  const rowsStored = Number(
    (await client.query<{ n: string }>("SELECT count(*)::text AS n FROM raw_events")).rows[0]?.n ?? -1
  )
  return {
    events: sequence.events,
    batchSize: sequence.batchSize,
    seconds,
    eventsPerSec: sequence.events / seconds,
    rowsStored,
    verified: rowsStored === sequence.unique
  }
}
