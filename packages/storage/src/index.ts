/**
 * @agg/storage: the ports of @agg/core on real infrastructure. `PgEventStore` (Kysely on PostgreSQL through
 * `PgConnection`) and `RedisEventLog` (Redis Streams with a consumer group, every key from `StreamKeys`).
 *
 * @remarks The embedded store on PGlite is not here but in "@agg/storage/pglite": importing this entry never
 * loads PGlite.
 */

export type * from "./postgres/Database.ts"
export * as Inbox from "./postgres/Inbox.ts"
export * as Migrations from "./postgres/Migrations.ts"
export * as PgConnection from "./postgres/PgConnection.ts"
export * as PgError from "./postgres/PgError.ts"
export * as PgEventStore from "./postgres/PgEventStore.ts"
export * as CommitChannel from "./redis/CommitChannel.ts"
export * as RedisDurability from "./redis/Durability.ts"
export * as RedisEntry from "./redis/Entry.ts"
export * as RedisLiveness from "./redis/Liveness.ts"
export * as RedisError from "./redis/RedisError.ts"
export * as RedisEventLog from "./redis/RedisEventLog.ts"
export * as StreamKeys from "./redis/StreamKeys.ts"
