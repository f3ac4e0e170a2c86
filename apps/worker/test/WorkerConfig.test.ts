import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import { defaultConsumerName, helpText, variables, WorkerConfig } from "../src/WorkerConfig.ts"

const required = { DATABASE_URL: "postgres://agg:s3cret@db:5432/agg", REDIS_URL: "redis://cache:6379" }
const parse = (env: Record<string, string>) => WorkerConfig.parse(ConfigProvider.fromEnv({ env }))

describe("WorkerConfig", () => {
  it.effect("applies the documented defaults when only the URLs are set", () =>
    Effect.gen(function* () {
      const config = yield* parse(required)
      assert.strictEqual(Redacted.value(config.databaseUrl), required.DATABASE_URL)
      assert.strictEqual(Redacted.value(Option.getOrThrow(config.redisUrl)), required.REDIS_URL)
      assert.isUndefined(config.clusterNodes, "one Redis")
      assert.isUndefined(config.partitions, "the deployment's recorded count")
      assert.strictEqual(config.streamKey, "agg:events")
      assert.strictEqual(config.batchSize, 2000)
      assert.strictEqual(Duration.toMillis(config.block), 1000)
      assert.strictEqual(Duration.toMillis(config.heartbeatTtl), 3000)
      assert.strictEqual(Duration.toMillis(config.reclaimIdle), 3000)
      assert.strictEqual(Duration.toMillis(config.reclaimInterval), 1000)
      assert.isTrue(Option.isNone(config.reclaimGrace), "the consumer's default: twice the heartbeat ttl")
      assert.strictEqual(config.maxDeliveries, 5)
      assert.strictEqual(Duration.toMillis(config.shutdownTimeout), 20_000)
      assert.strictEqual(config.consumer, defaultConsumerName())
      assert.match(config.consumer, new RegExp(`-${process.pid}-[0-9a-f]{8}$`), "<hostname>-<pid>-<random>")
      assert.isTrue(Option.isNone(config.metricsPort))
    })
  )

  it.effect("reads every variable", () =>
    Effect.gen(function* () {
      const config = yield* parse({
        ...required,
        STREAM_KEY: "tenant-a:events",
        WORKER_BATCH_SIZE: "5000",
        WORKER_BLOCK_MS: "250",
        WORKER_RECLAIM_IDLE_MS: "2000",
        WORKER_RECLAIM_INTERVAL_MS: "500",
        WORKER_MAX_DELIVERIES: "3",
        WORKER_SHUTDOWN_TIMEOUT_MS: "5000",
        WORKER_CONSUMER: "worker-7",
        WORKER_METRICS_PORT: "9464",
        PARTITIONS: "8"
      })
      assert.strictEqual(config.partitions, 8)
      assert.deepStrictEqual(
        {
          streamKey: config.streamKey,
          batchSize: config.batchSize,
          block: Duration.toMillis(config.block),
          reclaimIdle: Duration.toMillis(config.reclaimIdle),
          reclaimInterval: Duration.toMillis(config.reclaimInterval),
          maxDeliveries: config.maxDeliveries,
          shutdownTimeout: Duration.toMillis(config.shutdownTimeout),
          consumer: config.consumer,
          metricsPort: Option.getOrUndefined(config.metricsPort)
        },
        {
          streamKey: "tenant-a:events",
          batchSize: 5000,
          block: 250,
          reclaimIdle: 2000,
          reclaimInterval: 500,
          maxDeliveries: 3,
          shutdownTimeout: 5000,
          consumer: "worker-7",
          metricsPort: 9464
        }
      )
    })
  )

  const bad: ReadonlyArray<readonly [string, Record<string, string>]> = [
    ["DATABASE_URL", { REDIS_URL: required.REDIS_URL }],
    ["REDIS_URL", { DATABASE_URL: required.DATABASE_URL }],
    ["DATABASE_URL", { ...required, DATABASE_URL: "mysql://agg:s3cret@db/agg" }],
    ["REDIS_URL", { ...required, REDIS_URL: "cache:6379" }],
    ["STREAM_KEY", { ...required, STREAM_KEY: "has space" }],
    ["WORKER_BATCH_SIZE", { ...required, WORKER_BATCH_SIZE: "0" }],
    ["WORKER_BATCH_SIZE", { ...required, WORKER_BATCH_SIZE: "12.5" }],
    ["WORKER_BLOCK_MS", { ...required, WORKER_BLOCK_MS: "soon" }],
    ["WORKER_RECLAIM_IDLE_MS", { ...required, WORKER_RECLAIM_IDLE_MS: "5" }],
    ["WORKER_RECLAIM_INTERVAL_MS", { ...required, WORKER_RECLAIM_INTERVAL_MS: "-1" }],
    ["WORKER_HEARTBEAT_TTL_MS", { ...required, WORKER_HEARTBEAT_TTL_MS: "10" }],
    ["WORKER_RECLAIM_GRACE_MS", { ...required, WORKER_RECLAIM_GRACE_MS: "later" }],
    ["WORKER_MAX_DELIVERIES", { ...required, WORKER_MAX_DELIVERIES: "0" }],
    ["WORKER_SHUTDOWN_TIMEOUT_MS", { ...required, WORKER_SHUTDOWN_TIMEOUT_MS: "forever" }],
    ["WORKER_CONSUMER", { ...required, WORKER_CONSUMER: "two words" }],
    ["WORKER_METRICS_PORT", { ...required, WORKER_METRICS_PORT: "70000" }],
    ["PARTITIONS", { ...required, PARTITIONS: "0" }],
    ["PARTITIONS", { ...required, PARTITIONS: "2000" }],
    ["PARTITIONS", { ...required, PARTITIONS: "four" }],
    ["REDIS_CLUSTER_NODES", { ...required, REDIS_CLUSTER_NODES: "127.0.0.1" }],
    ["REDIS_CLUSTER_NODES", { ...required, REDIS_CLUSTER_NODES: "a:1,b:99999" }]
  ]
  for (const [name, env] of bad) {
    it.effect(`a bad ${name} (${JSON.stringify(env[name] ?? "missing")}) fails naming it`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(parse(env))
        assert.include(String(error), name)
      })
    )
  }

  it.effect("REDIS_CLUSTER_NODES stands in for REDIS_URL", () =>
    Effect.gen(function* () {
      const config = yield* parse({
        DATABASE_URL: required.DATABASE_URL,
        REDIS_CLUSTER_NODES: "10.0.0.1:7000, 10.0.0.2:7001"
      })
      assert.deepStrictEqual(config.clusterNodes, ["10.0.0.1:7000", "10.0.0.2:7001"])
      assert.isTrue(Option.isNone(config.redisUrl))
    })
  )

  it.effect("a rejected URL is not echoed (it may hold a password)", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parse({ ...required, DATABASE_URL: "mysql://agg:s3cret@db/agg" }))
      assert.notInclude(String(error), "s3cret")
    })
  )

  it.effect("the defaults the help shows are the defaults the config applies", () =>
    Effect.gen(function* () {
      const config = yield* parse(required)
      const shown = new Map(variables.map(([name, fallback]) => [name, fallback]))
      assert.deepStrictEqual(
        {
          STREAM_KEY: config.streamKey,
          WORKER_BATCH_SIZE: String(config.batchSize),
          WORKER_BLOCK_MS: String(Duration.toMillis(config.block)),
          WORKER_RECLAIM_IDLE_MS: String(Duration.toMillis(config.reclaimIdle)),
          WORKER_RECLAIM_INTERVAL_MS: String(Duration.toMillis(config.reclaimInterval)),
          WORKER_MAX_DELIVERIES: String(config.maxDeliveries),
          WORKER_SHUTDOWN_TIMEOUT_MS: String(Duration.toMillis(config.shutdownTimeout))
        },
        {
          STREAM_KEY: shown.get("STREAM_KEY"),
          WORKER_BATCH_SIZE: shown.get("WORKER_BATCH_SIZE"),
          WORKER_BLOCK_MS: shown.get("WORKER_BLOCK_MS"),
          WORKER_RECLAIM_IDLE_MS: shown.get("WORKER_RECLAIM_IDLE_MS"),
          WORKER_RECLAIM_INTERVAL_MS: shown.get("WORKER_RECLAIM_INTERVAL_MS"),
          WORKER_MAX_DELIVERIES: shown.get("WORKER_MAX_DELIVERIES"),
          WORKER_SHUTDOWN_TIMEOUT_MS: shown.get("WORKER_SHUTDOWN_TIMEOUT_MS")
        }
      )
    })
  )

  it("the help text lists every variable (LOG_LEVEL, read by the runtime, included) with its default", () => {
    const text = helpText()
    for (const [name, fallback] of variables) {
      assert.include(text, name)
      assert.include(text, `[default: ${fallback}]`)
    }
    assert.strictEqual(variables.length, 17)
    assert.include(text, "LOG_LEVEL")
    assert.include(text, "PARTITIONS")
    assert.include(text, "REDIS_CLUSTER_NODES")
    assert.match(text, /WORKER_BATCH_SIZE +entries read and committed per transaction \(1-10000\) \[default: 2000\]/)
  })
})
