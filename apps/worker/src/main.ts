/**
 * The worker process: a thin composition of @agg/core's `Consumer` with the PostgreSQL `EventStore` and the Redis
 * `EventLog` of @agg/storage, configured from the environment (WorkerConfig.ts), logging JSON lines, optionally
 * serving its figures as Prometheus text on WORKER_METRICS_PORT. Any number of replicas may run at once.
 *
 * SIGTERM/SIGINT interrupt the main fiber: the worker stops reading, commits and acks the entries in hand (a drain,
 * core's GracefulStop), then the metrics exporter and the connections close and the process exits 0. A bad setting,
 * or a service unreachable at start, stops the process with a FATAL log line naming it (exit 1). Logging, LOG_LEVEL,
 * exit codes and the fatal line are `@agg/runtime`'s `Main.runMain`; the exporter is its `Metrics.serve`.
 *
 * Deliberately no consuming logic of its own: reading, committing, acking, reclaiming and dead-lettering are the
 * core's; the worker only adds the drain on stop and the metrics endpoint.
 */
import { CommitSignal, Consumer, GracefulStop } from "@agg/core"
import { Main, Metrics } from "@agg/runtime"
import { CommitChannel, PgEventStore, RedisEventLog } from "@agg/storage"
import { Effect, Layer, Option } from "effect"
import { helpText, WorkerConfig } from "./WorkerConfig.ts"

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(helpText())
  process.exit(0)
}

// The consumer's counters as Prometheus samples, prefixed `agg_worker_`; each replica exposes its own, so a scraper
// sums them across replicas. Resident memory and CPU come with the runtime's process metrics.
const samples = (m: Consumer.ConsumerMetrics): ReadonlyArray<Metrics.Sample> => {
  const counter = (name: string, help: string, value: number): Metrics.Sample => ({
    name: `agg_worker_${name}`,
    type: "counter",
    help,
    value
  })
  return [
    counter("batches_total", "Batches committed.", m.batches),
    counter("events_total", "Stream entries committed (unique + duplicates + redelivered).", m.events),
    counter("events_unique_total", "Events stored as new.", m.unique),
    counter("events_duplicate_total", "Events dropped as duplicates (conflicts included).", m.duplicates),
    counter("events_conflict_total", "Duplicates whose content differed from the stored event.", m.conflicts),
    counter(
      "events_redelivered_total",
      "Entries committed before and delivered again (crash between commit and ack); counted nowhere else.",
      m.redelivered
    ),
    counter("reclaimed_total", "Entries taken over from idle consumers.", m.reclaimed),
    counter("dead_lettered_total", "Entries moved to the dead-letter stream.", m.deadLettered),
    counter("retries_total", "Retries after retryable store or log failures.", m.retries),
    counter("commit_seconds_sum", "Total time spent in store commits.", m.commitMillisTotal / 1000),
    counter("commit_seconds_count", "Store commits timed (one per committed batch).", m.batches),
    {
      name: "agg_worker_last_commit_seconds",
      type: "gauge",
      help: "Duration of the latest store commit.",
      value: m.lastCommitMillis / 1000
    }
  ]
}

const program = Effect.gen(function* () {
  const config = yield* WorkerConfig
  // The consumer sees the Redis log through the graceful-stop gate; the stream maintenance passes through beside it.
  // Waits for Redis at start (each failed attempt logged, with backoff); bad credentials stop the worker.
  const target: RedisEventLog.RedisTarget = {
    ...(Option.isSome(config.redisUrl) ? { url: config.redisUrl.value } : {}),
    ...(config.clusterNodes === undefined ? {} : { clusterNodes: config.clusterNodes })
  }
  const redis = RedisEventLog.layerRetrying({
    ...target,
    streamKey: config.streamKey,
    deadLetterCap: config.deadLetterCap,
    ...(config.partitions === undefined ? {} : { partitions: config.partitions })
  })
  const maintenance = Layer.effect(
    RedisEventLog.RedisStreamMaintenance,
    Effect.service(RedisEventLog.RedisStreamMaintenance)
  )
  // The consumer commits from at most two fibers at once (reads and the reclaim pass): two connections suffice,
  // which keeps many replicas well inside PostgreSQL's connection limit.
  const stores = Layer.mergeAll(
    // After each commit that stored new events, its topics go out on Redis pub/sub: the api's live tails wake up.
    CommitSignal.notifying.pipe(
      Layer.provide(
        Layer.merge(
          PgEventStore.layer({ url: config.databaseUrl, poolSize: 2 }),
          CommitChannel.publisher({ ...target, streamKey: config.streamKey })
        )
      )
    ),
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
      heartbeatTtl: config.heartbeatTtl,
      reclaimIdle: config.reclaimIdle,
      reclaimInterval: config.reclaimInterval,
      ...(Option.isSome(config.reclaimGrace) ? { reclaimGrace: config.reclaimGrace.value } : {}),
      maxDeliveries: config.maxDeliveries
    })
    if (Option.isSome(config.metricsPort)) {
      yield* Metrics.serve({
        port: config.metricsPort.value,
        name: "WORKER_METRICS_PORT",
        samples: Effect.map(consumer.metrics, samples)
      })
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
  return yield* consume.pipe(Effect.scoped, Effect.provide(Layer.merge(stores, Metrics.layer)))
})

Main.runMain(program)
