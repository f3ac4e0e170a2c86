/**
 * @agg/storage: the ports of @agg/core on real infrastructure. `PgEventStore` (Kysely on PostgreSQL or PGlite)
 * and `RedisEventLog` (Redis Streams with a consumer group).
 */

export type * from "./postgres/Database.ts"
export * as Migrations from "./postgres/Migrations.ts"
export * as PgError from "./postgres/PgError.ts"
export * as PgEventStore from "./postgres/PgEventStore.ts"
export * as RedisEntry from "./redis/Entry.ts"
export * as RedisError from "./redis/RedisError.ts"
export * as RedisEventLog from "./redis/RedisEventLog.ts"
export * as StreamKeys from "./redis/StreamKeys.ts"
