/**
 * The live layers of each mode, from the validated configuration:
 * - direct: core's group commit (`Ingest.layerDirect`) into `PgEventStore` on PGlite in DATA_DIR, or on
 *   PostgreSQL when DATABASE_URL is set;
 * - queued: `Ingest.layerQueuedWith` (MAX_BACKLOG) appending to `RedisEventLog` (STREAM_KEY), reads and stats from
 *   `PgEventStore` on DATABASE_URL (the workers' database); the log stays in context for /stats and /health. Before
 *   the log opens, Redis's AOF settings are checked (`requireDurableRedis`): a warning, or with REQUIRE_AOF=true a
 *   refusal to start, when an acknowledged append could be undone by a Redis crash.
 * The store is wrapped once to observe commit batch sizes for /metrics. `memoryDirect`/`memoryQueued` are the
 * same wiring on the in-memory ports, for tests and HTTP-layer benchmarks. Release order is the reverse of
 * building: the server stops first, then the group commit drains, then pools and clients close.
 *
 * Holds no logic of its own beyond choosing and wiring.
 */
import { resolve } from "node:path"
import { CommitSignal, EventLog, EventStore, Ingest, Tail } from "@agg/core"
import { MemoryEventLog, MemoryEventStore } from "@agg/core/memory"
import { CommitChannel, PgEventStore, RedisDurability, RedisEventLog } from "@agg/storage"
import { Effect, Layer, Redacted } from "effect"
import type { ApiConfig, Mode, Storage } from "./Config.ts"
import { Metrics } from "./Metrics.ts"
import type { AppServices } from "./Server.ts"

/** The store with every successful commit's size and conflicts recorded in `Metrics`. @category layers */
export const observeCommits: Layer.Layer<EventStore.EventStore, never, EventStore.EventStore | Metrics> = Layer.effect(
  EventStore.EventStore,
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const metrics = yield* Metrics
    return EventStore.EventStore.of({
      ...store,
      commit: (batch) =>
        store.commit(batch).pipe(Effect.tap((outcomes) => Effect.sync(() => metrics.recordCommit(outcomes))))
    })
  })
)

// PGlite is imported only when chosen: a queued API never loads it.
const storeLayer = (storage: Storage, poolSize: number) =>
  storage._tag === "Pglite"
    ? Layer.unwrap(
        Effect.promise(() => import("@agg/storage/pglite")).pipe(
          Effect.map(({ layerPglite }) =>
            layerPglite(storage.dataDir === undefined ? {} : { dataDir: storage.dataDir })
          )
        )
      )
    : PgEventStore.layer({ url: storage.url, poolSize })

/** Why the services could not start: a store or log that cannot connect or migrate, bad group-commit options. */
export type StartError =
  | EventStore.EventStoreError
  | EventLog.EventLogError
  | (ReturnType<typeof Ingest.layerDirect> extends Layer.Layer<infer _A, infer E, infer _R> ? E : never)

/**
 * Direct mode's group commit over `store`, with the live tail: the store the group commit uses notifies the
 * tail in-process after each commit (never inside it).
 */
const directWithTail = <E, R>(
  ingest: Layer.Layer<Ingest.Ingest, E, EventStore.EventStore>,
  store: Layer.Layer<EventStore.EventStore | Metrics, StartError, R>,
  stream: Tail.Options
) => {
  // One tail (layers are shared by reference within a build): the routes' and the signal's.
  const tail = Tail.layer(stream).pipe(Layer.provideMerge(store))
  const notifying = CommitSignal.notifying.pipe(Layer.provide(Tail.localSignal), Layer.provide(tail))
  return ingest.pipe(Layer.provide(notifying), Layer.provideMerge(tail))
}

/**
 * Every service the app needs, for the configured mode. `stream` tunes the live tail (tests make it small).
 * @category layers
 */
export const services = (config: ApiConfig, stream: Tail.Options = {}): Layer.Layer<AppServices, StartError> => {
  const mode = config.mode
  if (mode._tag === "Direct") {
    const store = observeCommits.pipe(
      Layer.provide(storeLayer(mode.storage, config.poolSize)),
      Layer.provideMerge(Metrics.layer)
    )
    return directWithTail(
      Ingest.layerDirect({ maxEvents: config.commit.maxEvents, linger: config.commit.maxWaitMs }),
      store,
      stream
    )
  }
  // Serves while Redis is unreachable (503, /health down) and keeps trying in the background.
  const redis = redisTarget(mode)
  const log = RedisEventLog.layerInBackground({
    ...redis,
    streamKey: mode.streamKey,
    partitions: mode.partitions
  }).pipe(Layer.provide(Layer.effectDiscard(requireDurableRedis(redis, mode.requireAof ?? false))))
  const store = storeLayer({ _tag: "Postgres", url: mode.databaseUrl }, config.poolSize)
  const ingest = Ingest.layerQueuedWith(mode.maxBacklog === undefined ? {} : { maxBacklog: mode.maxBacklog })
  // MAX_BACKLOG was validated by the configuration: the options cannot be refused.
  // Workers commit; they announce it on Redis pub/sub, which wakes this process's tail.
  const tail = CommitChannel.subscriber({ ...redis, streamKey: mode.streamKey }).pipe(
    Layer.provideMerge(Tail.layer(stream)),
    Layer.provide(store)
  )
  return ingest.pipe(Layer.orDie, Layer.provideMerge(Layer.mergeAll(log, store, tail, Metrics.layer)))
}

/** The Redis of a queued mode: one server, or a cluster. */
const redisTarget = (mode: Extract<Mode, { _tag: "Queued" }>): RedisEventLog.RedisTarget => ({
  ...(mode.redisUrl === undefined ? {} : { url: mode.redisUrl }),
  ...(mode.clusterNodes === undefined ? {} : { clusterNodes: mode.clusterNodes })
})

/**
 * Check that the Redis at `url` (every master of a cluster) runs with AOF fsynced always (`RedisDurability`). Otherwise a warning, or with
 * `require` (REQUIRE_AOF=true) a refusal to start naming the settings. When the server does not allow CONFIG (many
 * managed services), only a warning that it could not be checked, also with `require`: such services manage
 * persistence themselves, and refusing would make them unusable.
 * @category constructors
 */
export const requireDurableRedis = (
  url: Redacted.Redacted<string> | RedisEventLog.RedisTarget,
  require: boolean
): Effect.Effect<void, EventLog.EventLogError> =>
  Effect.gen(function* () {
    const durability = yield* RedisDurability.check(url)
    if (durability._tag === "Unknown") {
      return yield* Effect.logWarning(
        `cannot check Redis persistence (CONFIG GET appendonly/appendfsync refused: ${durability.reason}); ` +
          "make sure it runs with appendonly yes and appendfsync always, or an acknowledged event can be lost in a Redis crash"
      )
    }
    if (durability.durable) return
    const settings = `appendonly ${durability.appendonly}, appendfsync ${durability.appendfsync}`
    if (require) {
      return yield* new EventLog.EventLogError({
        operation: "start",
        retryable: false,
        message:
          `REQUIRE_AOF=true but Redis runs with ${settings}: an acknowledged event could be lost in a Redis crash. ` +
          "Run Redis with --appendonly yes --appendfsync always, or unset REQUIRE_AOF."
      })
    }
    yield* Effect.logWarning(
      `Redis runs with ${settings}: an acknowledged event can be lost in a Redis crash ` +
        "(run it with --appendonly yes --appendfsync always; REQUIRE_AOF=true refuses to start instead of this warning)"
    )
  })

// Host and database only: never credentials.
const describeUrl = (url: Redacted.Redacted<string>) => {
  const parsed = new URL(Redacted.value(url))
  return `${parsed.hostname}${parsed.port === "" ? "" : `:${parsed.port}`}${parsed.pathname === "/" ? "" : parsed.pathname}`
}

/** Where the data lives, for the start-up log line. @category constructors */
export const describeData = (mode: Mode): string => {
  if (mode._tag === "Queued") {
    const redis =
      mode.clusterNodes === undefined ? describeUrl(mode.redisUrl!) : `Redis Cluster ${mode.clusterNodes.join(",")}`
    return `Redis stream ${mode.streamKey} at ${redis} -> PostgreSQL at ${describeUrl(mode.databaseUrl)}`
  }
  return mode.storage._tag === "Pglite"
    ? `PGlite in ${mode.storage.dataDir === undefined ? "memory" : resolve(mode.storage.dataDir)}`
    : `PostgreSQL at ${describeUrl(mode.storage.url)}`
}

/**
 * Direct mode on the in-memory store (tests, benchmarks of the HTTP layer): nothing is durable.
 * @category layers
 */
export const memoryDirect = (options: MemoryEventStore.Options = {}): Layer.Layer<AppServices> =>
  directWithTail(
    Ingest.layerDirect({ maxEvents: 2000 }),
    observeCommits.pipe(Layer.provide(MemoryEventStore.layerWith(options)), Layer.provideMerge(Metrics.layer)),
    {}
  ).pipe(
    Layer.orDie // the fixed options above are valid
  )

/**
 * Queued mode on the in-memory log and store (tests, benchmarks of the HTTP layer): nothing is durable.
 * @category layers
 */
export const memoryQueued = (
  options: MemoryEventLog.Options = {},
  queued: Ingest.QueuedOptions = {}
): Layer.Layer<AppServices | EventLog.EventLog> =>
  Ingest.layerQueuedWith(queued).pipe(
    Layer.orDie, // tests' options
    Layer.provideMerge(Layer.mergeAll(MemoryEventLog.layerWith(options), MemoryEventStore.layer, Metrics.layer)),
    // Nothing commits beside the log here (no workers): the tail serves what the store holds, checked on its timer.
    Layer.provideMerge(Tail.layer().pipe(Layer.provide(MemoryEventStore.layer)))
  )
