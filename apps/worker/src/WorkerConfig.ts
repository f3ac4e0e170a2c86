/**
 * The worker's settings, read from the environment through Effect `Config` and validated once at start: a bad
 * value fails with a `ConfigError` naming the variable. Also the `--help` text, generated from the same table so
 * the two cannot drift.
 *
 * Deliberately does not open connections or interpret the URLs beyond their scheme: the storage layers own that.
 */
import { hostname } from "node:os"
import { Config, Duration, type LogLevel, type Option, Redacted, Schema } from "effect"

const intBetween = (name: string, minimum: number, maximum: number, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })), name).pipe(Config.withDefault(fallback))

// The schema error would echo the rejected value; a URL may hold a password, so the message names only the rule.
const secretUrl = (name: string, schemes: RegExp, expected: string) =>
  Config.schema(
    Schema.String.check(Schema.isPattern(schemes, { message: `${name} must be a ${expected} URL` })),
    name
  ).pipe(Config.map(Redacted.make))

// Redis names: the same rule @agg/storage applies to STREAM_KEY (checked here too, so a bad value fails at start).
const KEY_LIKE = /^[^\s\p{Cc}]{1,255}$/u

/** Default consumer name: unique per process on a host, stable for the process's lifetime. */
export const defaultConsumerName = (): string => `${hostname()}-${process.pid}`

/**
 * Every variable the worker reads, with its default and meaning (the `--help` text).
 * @category models
 */
export const variables: ReadonlyArray<readonly [name: string, fallback: string, meaning: string]> = [
  ["DATABASE_URL", "(required)", "PostgreSQL connection URL (postgres:// or postgresql://)"],
  ["REDIS_URL", "(required)", "Redis connection URL (redis:// or rediss://)"],
  ["STREAM_KEY", "agg:events", "Redis stream key; the group, counters and <STREAM_KEY>:dlq derive from it"],
  ["WORKER_BATCH_SIZE", "500", "entries read and committed per transaction (1-10000)"],
  ["WORKER_BLOCK_MS", "1000", "how long one XREADGROUP waits for entries, in ms (1-60000)"],
  ["WORKER_RECLAIM_IDLE_MS", "30000", "idle time after which another consumer's pending entries are reclaimed, in ms"],
  ["WORKER_RECLAIM_INTERVAL_MS", "5000", "how often the reclaim pass looks for such entries, in ms (100-3600000)"],
  [
    "WORKER_MAX_DELIVERIES",
    "5",
    "an entry delivered more often than this goes to <STREAM_KEY>:dlq unprocessed (1-1000)"
  ],
  [
    "WORKER_SHUTDOWN_TIMEOUT_MS",
    "20000",
    "on SIGTERM, how long to wait for the entries in hand to be committed, in ms"
  ],
  ["WORKER_CONSUMER", "<hostname>-<pid>", "consumer name in the group; must be unique among running replicas"],
  ["WORKER_METRICS_PORT", "(unset: off)", "serve Prometheus text of the worker's figures on this port at /metrics"],
  ["LOG_LEVEL", "Info", "minimum log level: All, Trace, Debug, Info, Warn, Error, Fatal, None"]
]

/** The `--help` text. @category constructors */
export const helpText = (): string => {
  const width = Math.max(...variables.map(([name]) => name.length))
  const lines = variables.map(
    ([name, fallback, meaning]) => `  ${name.padEnd(width)}  ${meaning} [default: ${fallback}]`
  )
  return [
    "agg worker: consumes the Redis stream into PostgreSQL (ack after commit, reclaim, dead-letter).",
    "",
    "Usage: node dist/main.js [--help]",
    "",
    "Configuration (environment variables):",
    ...lines,
    "",
    "SIGTERM/SIGINT: stops reading, commits and acks the batch in hand, exits 0."
  ].join("\n")
}

/** @category models */
export interface WorkerConfig {
  readonly databaseUrl: Redacted.Redacted<string>
  readonly redisUrl: Redacted.Redacted<string>
  readonly streamKey: string
  readonly batchSize: number
  readonly block: Duration.Duration
  readonly reclaimIdle: Duration.Duration
  readonly reclaimInterval: Duration.Duration
  readonly maxDeliveries: number
  readonly shutdownTimeout: Duration.Duration
  readonly consumer: string
  readonly metricsPort: Option.Option<number>
  readonly logLevel: LogLevel.LogLevel
}

/**
 * The worker's configuration. Defaults are given as decoded values (a `withDefault` is not decoded).
 * @category constructors
 */
export const WorkerConfig: Config.Config<WorkerConfig> = Config.all({
  databaseUrl: secretUrl("DATABASE_URL", /^postgres(ql)?:\/\/./, "postgres://"),
  redisUrl: secretUrl("REDIS_URL", /^rediss?:\/\/./, "redis://"),
  streamKey: Config.schema(
    Schema.String.check(
      Schema.isPattern(KEY_LIKE, { message: "STREAM_KEY must be 1-255 characters, no spaces/controls" })
    ),
    "STREAM_KEY"
  ).pipe(Config.withDefault("agg:events")),
  batchSize: intBetween("WORKER_BATCH_SIZE", 1, 10_000, 500),
  block: intBetween("WORKER_BLOCK_MS", 1, 60_000, 1000).pipe(Config.map(Duration.millis)),
  reclaimIdle: intBetween("WORKER_RECLAIM_IDLE_MS", 100, 86_400_000, 30_000).pipe(Config.map(Duration.millis)),
  reclaimInterval: intBetween("WORKER_RECLAIM_INTERVAL_MS", 100, 3_600_000, 5000).pipe(Config.map(Duration.millis)),
  maxDeliveries: intBetween("WORKER_MAX_DELIVERIES", 1, 1000, 5),
  shutdownTimeout: intBetween("WORKER_SHUTDOWN_TIMEOUT_MS", 0, 3_600_000, 20_000).pipe(Config.map(Duration.millis)),
  consumer: Config.schema(
    Schema.String.check(
      Schema.isPattern(KEY_LIKE, { message: "WORKER_CONSUMER must be 1-255 characters, no spaces/controls" })
    ),
    "WORKER_CONSUMER"
  ).pipe(Config.withDefault(defaultConsumerName())),
  metricsPort: Config.option(Config.Port("WORKER_METRICS_PORT")),
  logLevel: Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const))
})
