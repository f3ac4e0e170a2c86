/**
 * The worker process: a thin composition of @agg/core's `Consumer` with the PostgreSQL `EventStore` and the Redis
 * `EventLog` of @agg/storage, configured from the environment (WorkerConfig.ts), logging JSON lines, optionally
 * serving its figures as Prometheus text on WORKER_METRICS_PORT. Any number of replicas may run at once.
 *
 * SIGTERM/SIGINT interrupt the main fiber: the worker stops reading, commits and acks the entries in hand (a drain,
 * see GracefulStop.ts), then the metrics server and the connections close and the process exits 0 (an interrupt-only
 * exit is a clean stop). A bad setting, or a service unreachable at start, stops the process with a FATAL log line
 * naming it (exit 1).
 *
 * Deliberately no consuming logic of its own: reading, committing, acking, reclaiming and dead-lettering are the
 * core's; the worker only adds the drain on stop and the metrics endpoint.
 */
import { Consumer } from "@agg/core"
import { PgEventStore, RedisEventLog } from "@agg/storage"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer, Logger, Option, References, Runtime } from "effect"
import * as GracefulStop from "./GracefulStop.ts"
import { serveMetrics } from "./MetricsServer.ts"
import { helpText, WorkerConfig } from "./WorkerConfig.ts"
import { toSamples } from "./WorkerMetrics.ts"

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(helpText())
  process.exit(0)
}

const program = Effect.gen(function* () {
  const config = yield* WorkerConfig
  // The consumer sees the Redis log through the graceful-stop gate; the stream maintenance passes through beside it.
  const redis = RedisEventLog.layer({ url: config.redisUrl, streamKey: config.streamKey })
  const maintenance = Layer.effect(
    RedisEventLog.RedisStreamMaintenance,
    Effect.service(RedisEventLog.RedisStreamMaintenance)
  )
  // The consumer commits from at most two fibers at once (reads and the reclaim pass): two connections suffice,
  // which keeps many replicas well inside PostgreSQL's connection limit.
  const stores = Layer.mergeAll(
    PgEventStore.layer({ url: config.databaseUrl, poolSize: 2 }),
    Layer.mergeAll(GracefulStop.layer, maintenance).pipe(Layer.provide(redis))
  )
  const consume = Effect.gen(function* () {
    // After each reclaim pass, trim the entries every group has acknowledged (the stream is never capped by
    // length, which could drop entries still pending).
    const { trimAcknowledged } = yield* RedisEventLog.RedisStreamMaintenance
    const consumer = yield* Consumer.make({
      maintenance: trimAcknowledged,
      consumer: config.consumer,
      batchSize: config.batchSize,
      block: config.block,
      reclaimIdle: config.reclaimIdle,
      reclaimInterval: config.reclaimInterval,
      maxDeliveries: config.maxDeliveries
    })
    if (Option.isSome(config.metricsPort)) {
      const samples = consumer.metrics.pipe(Effect.map((m) => toSamples(m, process.memoryUsage.rss())))
      yield* serveMetrics(config.metricsPort.value, samples)
    }
    yield* Effect.logInfo("worker started", {
      consumer: config.consumer,
      streamKey: config.streamKey,
      batchSize: config.batchSize,
      maxDeliveries: config.maxDeliveries,
      metricsPort: Option.getOrNull(config.metricsPort)
    })
    return yield* GracefulStop.runGracefully(consumer, config.shutdownTimeout).pipe(
      Effect.onInterrupt(() =>
        Effect.flatMap(consumer.metrics, (figures) => Effect.logInfo("worker stopped", { figures }))
      )
    )
  })
  return yield* consume.pipe(
    Effect.scoped,
    Effect.provide(stores),
    Effect.provideService(References.MinimumLogLevel, config.logLevel)
  )
})

// An interrupt-only exit is the graceful stop after SIGTERM/SIGINT: exit 0, not the default 130.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

const main = program.pipe(
  // Report failures (bad config, services unreachable at start) as JSON log lines like everything else.
  Effect.tapCause((cause) =>
    Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logFatal(`worker stopped: ${Cause.pretty(cause)}`)
  ),
  Effect.provide(Logger.layer([Logger.consoleJson]))
)

NodeRuntime.runMain(main, { teardown, disableErrorReporting: true })
