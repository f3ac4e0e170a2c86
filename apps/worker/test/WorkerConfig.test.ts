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
      assert.strictEqual(Redacted.value(config.redisUrl), required.REDIS_URL)
      assert.strictEqual(config.streamKey, "agg:events")
      assert.strictEqual(config.batchSize, 500)
      assert.strictEqual(Duration.toMillis(config.block), 1000)
      assert.strictEqual(Duration.toMillis(config.reclaimIdle), 30_000)
      assert.strictEqual(Duration.toMillis(config.reclaimInterval), 5000)
      assert.strictEqual(config.maxDeliveries, 5)
      assert.strictEqual(Duration.toMillis(config.shutdownTimeout), 20_000)
      assert.strictEqual(config.consumer, defaultConsumerName())
      assert.isTrue(Option.isNone(config.metricsPort))
      assert.strictEqual(config.logLevel, "Info")
    })
  )

  it.effect("reads every variable", () =>
    Effect.gen(function* () {
      const config = yield* parse({
        ...required,
        STREAM_KEY: "tenant-a:events",
        WORKER_BATCH_SIZE: "2000",
        WORKER_BLOCK_MS: "250",
        WORKER_RECLAIM_IDLE_MS: "2000",
        WORKER_RECLAIM_INTERVAL_MS: "500",
        WORKER_MAX_DELIVERIES: "3",
        WORKER_SHUTDOWN_TIMEOUT_MS: "5000",
        WORKER_CONSUMER: "worker-7",
        WORKER_METRICS_PORT: "9464",
        LOG_LEVEL: "Debug"
      })
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
          metricsPort: Option.getOrUndefined(config.metricsPort),
          logLevel: config.logLevel
        },
        {
          streamKey: "tenant-a:events",
          batchSize: 2000,
          block: 250,
          reclaimIdle: 2000,
          reclaimInterval: 500,
          maxDeliveries: 3,
          shutdownTimeout: 5000,
          consumer: "worker-7",
          metricsPort: 9464,
          logLevel: "Debug"
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
    ["WORKER_MAX_DELIVERIES", { ...required, WORKER_MAX_DELIVERIES: "0" }],
    ["WORKER_SHUTDOWN_TIMEOUT_MS", { ...required, WORKER_SHUTDOWN_TIMEOUT_MS: "forever" }],
    ["WORKER_CONSUMER", { ...required, WORKER_CONSUMER: "two words" }],
    ["WORKER_METRICS_PORT", { ...required, WORKER_METRICS_PORT: "70000" }],
    ["LOG_LEVEL", { ...required, LOG_LEVEL: "loud" }]
  ]
  for (const [name, env] of bad) {
    it.effect(`a bad ${name} (${JSON.stringify(env[name] ?? "missing")}) fails naming it`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(parse(env))
        assert.include(String(error), name)
      })
    )
  }

  it.effect("a rejected URL is not echoed (it may hold a password)", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parse({ ...required, DATABASE_URL: "mysql://agg:s3cret@db/agg" }))
      assert.notInclude(String(error), "s3cret")
    })
  )

  it("the help text lists every variable", () => {
    const text = helpText()
    for (const [name] of variables) assert.include(text, name)
    assert.strictEqual(variables.length, 12)
  })
})
