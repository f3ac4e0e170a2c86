/**
 * The API's configuration (SPEC §8), read once at start through Effect `Config` and validated: a bad value fails
 * with a message naming the variable. Also derives the mode: `REDIS_URL` set → queued (DATABASE_URL required),
 * otherwise direct (PostgreSQL when DATABASE_URL is set, else embedded PGlite in DATA_DIR).
 *
 * Does not open connections or build layers (see `Layers.ts`). Secrets (URLs, API keys) stay `Redacted`.
 */
import type { Limits } from "@agg/schema"
import { PgEventStore } from "@agg/storage"
import { Config, ConfigProvider, Effect, Option, Redacted, Schema } from "effect"

/** Where events go and where they are read from. @category models */
export type Storage =
  /** Embedded PGlite in `dataDir`; without one, in memory (tests only: nothing survives the process). */
  | { readonly _tag: "Pglite"; readonly dataDir?: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }

/** The two ways to run (SPEC §2). @category models */
export type Mode =
  | { readonly _tag: "Direct"; readonly storage: Storage }
  | {
      readonly _tag: "Queued"
      readonly redisUrl: Redacted.Redacted<string>
      readonly streamKey: string
      readonly databaseUrl: Redacted.Redacted<string>
    }

/** @category models */
export interface ApiConfig {
  readonly port: number
  readonly host: string
  readonly mode: Mode
  /** SHA-256 digests are computed from these at start; empty: no auth. */
  readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
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

/** Fail the config with "<NAME> <problem>" when `check` returns a problem. */
const refine =
  <A>(name: string, check: (value: A) => string | undefined) =>
  (self: Config.Config<A>): Config.Config<A> =>
    self.pipe(
      Config.mapEffect((value) => {
        const problem = check(value)
        return problem === undefined
          ? Effect.succeed(value)
          : Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: `${name} ${problem}` })))
      })
    )

const intBetween = (name: string, minimum: number, maximum: number, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })), name).pipe(Config.withDefault(fallback))

const urlWithScheme = (name: string, schemes: ReadonlyArray<string>) =>
  Config.Redacted(name).pipe(
    refine(name, (url: Redacted.Redacted<string>) => {
      const value = Redacted.value(url)
      const parsed = URL.canParse(value) ? new URL(value) : undefined
      return parsed !== undefined && schemes.includes(parsed.protocol)
        ? undefined
        : `must be a URL starting with ${schemes.map((s) => `${s}//`).join(" or ")}`
    }),
    Config.option
  )

const nonEmpty = (name: string, fallback: string) =>
  Config.schema(Schema.String.check(Schema.isMinLength(1)), name).pipe(Config.withDefault(fallback))

const apiKeys = Config.Redacted("API_KEYS").pipe(
  refine("API_KEYS", (raw: Redacted.Redacted<string>) => {
    const keys = Redacted.value(raw).split(",")
    return keys.some((k) => k.trim() === "" || /\s/.test(k.trim()))
      ? "must be a comma-separated list of non-empty keys without whitespace"
      : undefined
  }),
  Config.map((raw) =>
    Redacted.value(raw)
      .split(",")
      .map((k) => Redacted.make(k.trim()))
  ),
  Config.withDefault<ReadonlyArray<Redacted.Redacted<string>>>([])
)

const booleanFlag = (name: string, fallback: boolean) => Config.Boolean(name).pipe(Config.withDefault(fallback))

/** Every variable with its default. @category constructors */
export const ApiConfig: Config.Config<ApiConfig> = Config.all({
  port: Config.Port("PORT").pipe(Config.withDefault(8080)),
  host: nonEmpty("HOST", "0.0.0.0"),
  databaseUrl: urlWithScheme("DATABASE_URL", ["postgres:", "postgresql:"]),
  redisUrl: urlWithScheme("REDIS_URL", ["redis:", "rediss:"]),
  streamKey: Config.schema(Schema.String.check(Schema.isPattern(/^[^\s]{1,200}$/)), "STREAM_KEY").pipe(
    Config.withDefault("agg:events")
  ),
  apiKeys,
  dataDir: nonEmpty("DATA_DIR", "./.data"),
  maxBodyBytes: intBetween("MAX_BODY_BYTES", 1024, 1024 * 1024 * 1024, 10 * 1024 * 1024),
  // A request commits whole, and one commit inserts at most PgEventStore.maxEventsPerCommit events.
  maxEventsPerRequest: intBetween("MAX_EVENTS_PER_REQUEST", 1, PgEventStore.maxEventsPerCommit, 10_000),
  maxPayloadBytes: intBetween("MAX_PAYLOAD_BYTES", 16, 64 * 1024 * 1024, 64 * 1024),
  commitMaxEvents: intBetween("COMMIT_MAX_EVENTS", 1, PgEventStore.maxEventsPerCommit, 2_000),
  commitMaxWaitMs: intBetween("COMMIT_MAX_WAIT_MS", 0, 10_000, 0),
  poolSize: intBetween("DB_POOL_SIZE", 1, 1_000, 10),
  shutdownTimeoutMs: intBetween("SHUTDOWN_TIMEOUT_MS", 0, 600_000, 10_000),
  accessLog: booleanFlag("ACCESS_LOG", true)
}).pipe(
  refine("DATABASE_URL", (c) =>
    Option.isSome(c.redisUrl) && Option.isNone(c.databaseUrl)
      ? "is required when REDIS_URL is set (queued mode reads events and stats from PostgreSQL)"
      : undefined
  ),
  Config.map(
    (c): ApiConfig => ({
      port: c.port,
      host: c.host,
      mode: Option.isSome(c.redisUrl)
        ? {
            _tag: "Queued",
            redisUrl: c.redisUrl.value,
            streamKey: c.streamKey,
            databaseUrl: Option.getOrThrow(c.databaseUrl)
          }
        : {
            _tag: "Direct",
            storage: Option.isSome(c.databaseUrl)
              ? { _tag: "Postgres", url: c.databaseUrl.value }
              : { _tag: "Pglite", dataDir: c.dataDir }
          },
      apiKeys: c.apiKeys,
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
