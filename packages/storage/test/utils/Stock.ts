// The service the inbox tests run: a `stock` table (sku → quantity) in public, fed by `stock` events.
import type { Event } from "@agg/schema"
import { makeEvent } from "@agg/testing/EventStoreSuite"
import type { Kysely } from "kysely"
import type * as Inbox from "../../src/postgres/Inbox.ts"

/** The service's own tables. */
export interface ServiceDb {
  stock: { sku: string; quantity: number }
}

/** The inbox's database as the service sees it: its tables and the inbox's. */
export type Db = Kysely<Inbox.InboxDatabase<ServiceDb>>

/** The inbox `setup`: create the stock table in public (the inbox's tables live in their own schema). */
export const createStock = async (db: Db) => {
  await db.schema
    .withSchema("public")
    .createTable("stock")
    .ifNotExists()
    .addColumn("sku", "text", (c) => c.primaryKey())
    .addColumn("quantity", "integer", (c) => c.notNull())
    .execute()
}

/** A `stock` event moving `delta` of `sku` (null: a malformed one), plus any `extra` payload members. */
export const stockEvent = (id: string, sku: string | null, delta: number, extra: Record<string, unknown> = {}): Event =>
  makeEvent("stock", id, { sku, delta, ...extra })
