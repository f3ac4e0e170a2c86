/**
 * The API's configuration, read once at start through Effect `Config` with the shared primitives of
 * `@agg/runtime`'s `Env` and validated: a bad value fails with a message naming the variable. Also derives the mode: `REDIS_URL` or `REDIS_CLUSTER_NODES` set → queued (DATABASE_URL required),
 * otherwise direct (PostgreSQL when DATABASE_URL is set, else embedded PGlite in DATA_DIR).
 *
 * Does not open connections or build layers (see `Layers.ts`). Secrets (URLs, API keys) stay `Redacted`.
 */

import { Env } from "@agg/runtime"
import type { Limits } from "@agg/schema"
import { PgEventStore, RedisEventLog, StreamKeys } from "@agg/storage"
import { Config, type Effect, Option, type Redacted } from "effect"

/** Where events go and where they are read from. @category models */
export type Storage =
  /** Embedded PGlite in `dataDir`; without one, in memory (tests only: nothing survives the process). */
  | { readonly _tag: "Pglite"; readonly dataDir?: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }

/** The two ways to run: direct (the API commits) or queued (workers commit from the stream). @category models */
export type Mode =
  | { readonly _tag: "Direct"; readonly storage: Storage }
  | {
      readonly _tag: "Queued"
      /** REDIS_URL: the Redis; with `clusterNodes`, only the credentials and scheme for every node. */
      readonly redisUrl?: Redacted.Redacted<string>
      /** REDIS_CLUSTER_NODES: `host:port` of Redis Cluster masters; unset: a single Redis at `redisUrl`. */
      readonly clusterNodes?: ReadonlyArray<string>
      /** PARTITIONS: the log's partition count; unset: the deployment's recorded count (see `RedisEventLog`). */
      readonly partitions?: number
      readonly streamKey: string
      /** MAX_BACKLOG: above this many waiting entries (lag + pending), POST /publish answers 503. Default 1,000,000. */
      readonly maxBacklog?: number
      /** REQUIRE_AOF: refuse to start on a Redis without AOF fsynced always (else only warn). Default false. */
      readonly requireAof?: boolean
      readonly databaseUrl: Redacted.Redacted<string>
    }

/** @category models */
export interface ApiConfig {
  readonly port: number
  readonly host: string
  readonly mode: Mode
  /** SHA-256 digests are computed from these at start; empty: no auth. */
  readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
  /**
   * ADMIN_API_KEYS: the keys that may also redrive and discard dead letters (and read like any key). Empty: when
   * API_KEYS is set nobody may; with no keys at all every route is open.
   */
  readonly adminApiKeys: ReadonlyArray<Redacted.Redacted<string>>
  readonly limits: Limits
  /** Group commit (direct mode): most events per transaction, and how long the first waits for company. */
  readonly commit: { readonly maxEvents: number; readonly maxWaitMs: number }
  /** PostgreSQL pool size (DATABASE_URL). */
  readonly poolSize: number
  /** How long shutdown waits for in-flight requests before cutting connections. */
  readonly shutdownTimeoutMs: number
  /** One JSON log line per request (at Info) when true. */
  readonly accessLog: boolean
}

/** Every variable with its default. @category constructors */
export const ApiConfig: Config.Config<ApiConfig> = Config.all({
  port: Config.Port("PORT").pipe(Config.withDefault(8080)),
  host: Env.nonEmpty("HOST", "0.0.0.0"),
  databaseUrl: Env.url("DATABASE_URL", ["postgres:", "postgresql:"]).pipe(Config.option),
  redisUrl: Env.url("REDIS_URL", ["redis:", "rediss:"]).pipe(Config.option),
  clusterNodes: RedisEventLog.clusterNodesConfig,
  partitions: RedisEventLog.partitionsConfig,
  streamKey: Config.String("STREAM_KEY").pipe(
    Config.withDefault("agg:events"),
    Env.refine("STREAM_KEY", StreamKeys.validate)
  ),
  apiKeys: Env.keyList("API_KEYS"),
  adminApiKeys: Env.keyList("ADMIN_API_KEYS"),
  dataDir: Env.nonEmpty("DATA_DIR", "./.data"),
  maxBodyBytes: Env.intBetween("MAX_BODY_BYTES", 1024, 1024 * 1024 * 1024, 10 * 1024 * 1024),
  // A request commits whole, and one commit inserts at most PgEventStore.maxEventsPerCommit events.
  maxEventsPerRequest: Env.intBetween("MAX_EVENTS_PER_REQUEST", 1, PgEventStore.maxEventsPerCommit, 10_000),
  maxPayloadBytes: Env.intBetween("MAX_PAYLOAD_BYTES", 16, 64 * 1024 * 1024, 64 * 1024),
  commitMaxEvents: Env.intBetween("COMMIT_MAX_EVENTS", 1, PgEventStore.maxEventsPerCommit, 2_000),
  commitMaxWaitMs: Env.intBetween("COMMIT_MAX_WAIT_MS", 0, 10_000, 0),
  poolSize: Env.intBetween("DB_POOL_SIZE", 1, 1_000, 10),
  shutdownTimeoutMs: Env.intBetween("SHUTDOWN_TIMEOUT_MS", 0, 600_000, 10_000),
  accessLog: Env.flag("ACCESS_LOG", true),
  maxBacklog: Env.intBetween("MAX_BACKLOG", 1, 1_000_000_000, 1_000_000),
  requireAof: Env.flag("REQUIRE_AOF", false)
}).pipe(
  Env.refine("DATABASE_URL", (c) =>
    (Option.isSome(c.redisUrl) || c.clusterNodes !== undefined) && Option.isNone(c.databaseUrl)
      ? "is required when REDIS_URL or REDIS_CLUSTER_NODES is set (queued mode reads events and stats from PostgreSQL)"
      : undefined
  ),
  Config.map(
    (c): ApiConfig => ({
      port: c.port,
      host: c.host,
      mode:
        Option.isSome(c.redisUrl) || c.clusterNodes !== undefined
          ? {
              _tag: "Queued",
              ...(Option.isSome(c.redisUrl) ? { redisUrl: c.redisUrl.value } : {}),
              ...(c.clusterNodes === undefined ? {} : { clusterNodes: c.clusterNodes }),
              ...(c.partitions === undefined ? {} : { partitions: c.partitions }),
              streamKey: c.streamKey,
              maxBacklog: c.maxBacklog,
              requireAof: c.requireAof,
              databaseUrl: Option.getOrThrow(c.databaseUrl)
            }
          : {
              _tag: "Direct",
              storage: Option.isSome(c.databaseUrl)
                ? { _tag: "Postgres", url: c.databaseUrl.value }
                : { _tag: "Pglite", dataDir: c.dataDir }
            },
      apiKeys: c.apiKeys,
      adminApiKeys: c.adminApiKeys,
      limits: {
        maxBodyBytes: c.maxBodyBytes,
        maxEventsPerRequest: c.maxEventsPerRequest,
        maxPayloadBytes: c.maxPayloadBytes
      },
      commit: { maxEvents: c.commitMaxEvents, maxWaitMs: c.commitMaxWaitMs },
      poolSize: c.poolSize,
      shutdownTimeoutMs: c.shutdownTimeoutMs,
      accessLog: c.accessLog
    })
  )
)

/** Read and validate the configuration from the current ConfigProvider (the environment by default). */
export const load: Effect.Effect<ApiConfig, Config.ConfigError> = ApiConfig
