/**
 * The inventory service: keeps a `stock` table (sku → quantity) from @agg's `stock` events (payload `sku`,
 * `delta`), each applied exactly once, in the transaction that records it. It reads the aggregator's Redis stream
 * with a consumer group of its own and keeps the inbox's tables in the `agg` schema of its own database.
 *
 * Deliberately nothing else: dedup, redelivery, retries, dead letters and the graceful stop are `Inbox.run`'s.
 */
import { hostname } from "node:os"
import { Env, Main } from "@agg/runtime"
import { Inbox, RedisEventLog } from "@agg/storage"
import { Effect } from "effect"
import { type Kysely, sql } from "kysely"

/** The service's own tables (Kysely types). */
export interface Tables {
  stock: { sku: string; quantity: number }
}

// Our table, in public: the inbox's tables live in the `agg` schema of the same database.
const setup = async (db: Kysely<Inbox.InboxDatabase<Tables>>) => {
  await db.schema
    .withSchema("public")
    .createTable("stock")
    .ifNotExists()
    .addColumn("sku", "text", (c) => c.primaryKey())
    .addColumn("quantity", "integer", (c) => c.notNull())
    .execute()
}

// Called with the new events only, inside the transaction that records them (and holds the topic's lock: be quick).
const handler: Inbox.Handler<Tables> = async (events, trx) => {
  const deltas = new Map<string, number>()
  for (const { event } of events) {
    if (event.topic !== "stock") continue
    const { sku, delta } = event.payload
    if (typeof sku !== "string" || !Number.isSafeInteger(delta))
      throw new Inbox.InboxHandlerError({ retryable: false, message: `${event.event_id} is not a stock event` })
    deltas.set(sku, (deltas.get(sku) ?? 0) + (delta as number))
  }
  if (deltas.size === 0) return
  // One statement, rows in sku order: concurrent consumers never deadlock on the stock rows.
  const rows = [...deltas].sort(([a], [b]) => (a < b ? -1 : 1)).map(([sku, quantity]) => ({ sku, quantity }))
  await trx
    .insertInto("stock")
    .values(rows)
    .onConflict((oc) => oc.column("sku").doUpdateSet({ quantity: sql`stock.quantity + excluded.quantity` }))
    .execute()
}

const program = Effect.gen(function* () {
  return yield* Inbox.run<Tables>({
    databaseUrl: yield* Env.url("DATABASE_URL", ["postgres:", "postgresql:"]),
    redisUrl: yield* Env.url("REDIS_URL", ["redis:", "rediss:"]),
    streamKey: yield* RedisEventLog.streamKeyConfig, // STREAM_KEY, default agg:events
    group: yield* Env.nonEmpty("INVENTORY_GROUP", "inventory"),
    consumer: yield* Env.nonEmpty("INVENTORY_CONSUMER", `inventory-${hostname()}-${process.pid}`),
    setup,
    handler
  })
})

Main.runMain(program)
