/**
 * The worker's settings, read from the environment through Effect `Config` (the shared primitives of
 * `@agg/runtime`'s `Env`) and validated once at start: a bad value fails with a `ConfigError` naming the variable.
 * One table declares each variable once, with its default, range and meaning; both the `Config` and the `--help`
 * text are derived from it, so the two cannot drift. LOG_LEVEL is read by the runtime (`Main.runMain`) and only
 * listed here.
 *
 * Deliberately does not open connections or interpret the URLs beyond their scheme: the storage layers own that.
 */
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { EventLog } from "@agg/core"
import { Env, Log } from "@agg/runtime"
import { RedisEventLog, StreamKeys } from "@agg/storage"
import { Config, Duration, Option, type Redacted, Schema } from "effect"

/**
 * Default consumer name, `<hostname>-<pid>-<random>`: unique per process start, stable for the process's lifetime.
 * The random part matters: a restarted container has the same hostname and often the same pid, and a name reused
 * by a new process would make the dead one's entries look alive (its heartbeat key) and never be reclaimed.
 */
export const defaultConsumerName = (): string => processConsumerName
const processConsumerName = `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`

// A consumer name is a Redis name too: the same shape as the stream key (its own rule, it is not a key).
const validConsumer = (name: string) =>
  /^[^\s\p{Cc}]{1,255}$/u.test(name) ? undefined : "must be 1-255 characters without whitespace or control characters"

interface Setting<A> extends Env.Help {
  readonly config: Config.Config<A>
}

const url = (name: string, schemes: ReadonlyArray<string>, meaning: string): Setting<Redacted.Redacted<string>> => ({
  name,
  fallback: "(required)",
  meaning: `${meaning} (${schemes.map((s) => `${s}//`).join(" or ")})`,
  config: Env.url(name, schemes)
})

const int = (name: string, minimum: number, maximum: number, fallback: number, meaning: string): Setting<number> => ({
  name,
  fallback: String(fallback),
  meaning: `${meaning} (${minimum}-${maximum})`,
  config: Env.intBetween(name, minimum, maximum, fallback)
})

const ms = (
  name: string,
  minimum: number,
  maximum: number,
  fallback: number,
  meaning: string
): Setting<Duration.Duration> => ({
  name,
  fallback: String(fallback),
  meaning: `${meaning}, in ms (${minimum}-${maximum})`,
  config: Env.millis(name, minimum, maximum, fallback)
})

const redisName = (
  variable: string,
  fallback: string,
  shown: string,
  meaning: string,
  check: (value: string) => string | undefined
): Setting<string> => ({
  name: variable,
  fallback: shown,
  meaning,
  config: Config.String(variable).pipe(Config.withDefault(fallback), Env.refine(variable, check))
})

const settings = {
  databaseUrl: url("DATABASE_URL", ["postgres:", "postgresql:"], "PostgreSQL connection URL"),
  redisUrl: {
    name: "REDIS_URL",
    fallback: "(required unless REDIS_CLUSTER_NODES is set)",
    meaning:
      "Redis connection URL (redis:// or rediss://); with REDIS_CLUSTER_NODES only the credentials and scheme for every node",
    config: Config.option(Env.url("REDIS_URL", ["redis:", "rediss:"]))
  },
  clusterNodes: {
    name: "REDIS_CLUSTER_NODES",
    fallback: "(unset: one Redis at REDIS_URL)",
    meaning: "host:port,… of Redis Cluster masters; the rest of the cluster is discovered",
    config: RedisEventLog.clusterNodesConfig
  },
  partitions: {
    name: "PARTITIONS",
    fallback: `(the deployment's recorded count; ${RedisEventLog.defaultPartitions} for a new one)`,
    meaning:
      "partitions of the log (1-1024); replicas share them out. Must equal the deployment's count: it cannot change once recorded",
    config: RedisEventLog.partitionsConfig
  },
  streamKey: redisName(
    "STREAM_KEY",
    "agg:events",
    "agg:events",
    "Redis stream key; the group, counters and dead-letter stream derive from it",
    StreamKeys.validate
  ),
  batchSize: int("WORKER_BATCH_SIZE", 1, 10_000, 2000, "entries read and committed per transaction"),
  block: ms("WORKER_BLOCK_MS", 1, 60_000, 1000, "how long one XREADGROUP waits for entries"),
  heartbeatTtl: ms(
    "WORKER_HEARTBEAT_TTL_MS",
    300,
    600_000,
    3000,
    "lifetime of the consumer's heartbeat key, refreshed every third of it; a killed worker counts as dead once it expired"
  ),
  reclaimIdle: ms(
    "WORKER_RECLAIM_IDLE_MS",
    100,
    86_400_000,
    3000,
    "idle time after which a dead consumer's pending entries are reclaimed (a live one's never are)"
  ),
  reclaimInterval: ms("WORKER_RECLAIM_INTERVAL_MS", 100, 3_600_000, 1000, "how often the reclaim pass looks for them"),
  reclaimGrace: {
    name: "WORKER_RECLAIM_GRACE_MS",
    fallback: "2 x WORKER_HEARTBEAT_TTL_MS",
    meaning:
      "after start and after Redis was unreachable, how long nothing is reclaimed (every heartbeat may have expired), in ms (0-3600000)",
    config: Config.option(
      Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3_600_000 })), "WORKER_RECLAIM_GRACE_MS")
    ).pipe(Config.map(Option.map(Duration.millis)))
  },
  maxDeliveries: int(
    "WORKER_MAX_DELIVERIES",
    1,
    1000,
    5,
    "an entry delivered more often than this goes to the dead-letter stream unprocessed"
  ),
  deadLetterCap: int(
    "DEAD_LETTER_CAP",
    1,
    100_000_000,
    EventLog.defaultDeadLetterCap,
    "most entries each partition's dead-letter stream keeps; beyond it the oldest are dropped and counted as discarded"
  ),
  shutdownTimeout: ms(
    "WORKER_SHUTDOWN_TIMEOUT_MS",
    0,
    3_600_000,
    20_000,
    "on SIGTERM, how long to wait for the entries in hand to be committed"
  ),
  consumer: redisName(
    "WORKER_CONSUMER",
    defaultConsumerName(),
    "<hostname>-<pid>-<random>",
    "consumer name in the group; must be unique among running replicas and per process start",
    validConsumer
  ),
  metricsPort: {
    name: "WORKER_METRICS_PORT",
    fallback: "(unset: off)",
    meaning: "serve Prometheus text of the worker's figures on this port at /metrics",
    config: Config.option(Config.Port("WORKER_METRICS_PORT"))
  }
}

type Settings = typeof settings

/** @category models */
export type WorkerConfig = { readonly [K in keyof Settings]: Config.Success<Settings[K]["config"]> }

/**
 * Every variable the worker reads, with its default as shown and its meaning (the `--help` lines).
 * @category models
 */
export const variables: ReadonlyArray<readonly [name: string, fallback: string, meaning: string]> = [
  ...Object.values(settings),
  Log.levelHelp
].map(({ name, fallback, meaning }) => [name, fallback, meaning] as const)

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

/**
 * The worker's configuration, from the table above.
 * @category constructors
 */
export const WorkerConfig: Config.Config<WorkerConfig> = Config.all(
  Object.fromEntries(Object.entries(settings).map(([key, setting]) => [key, setting.config])) as {
    readonly [K in keyof Settings]: Settings[K]["config"]
  }
).pipe(
  Env.refine("REDIS_URL", (c) =>
    Option.isNone(c.redisUrl) && c.clusterNodes === undefined ? "is required (or REDIS_CLUSTER_NODES)" : undefined
  )
)
