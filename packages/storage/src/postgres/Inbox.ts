/**
 * The transactional inbox: an `EventStore` whose commit also applies the batch's new events to the service's own
 * tables, in the same PostgreSQL (or PGlite) transaction that records them. A service that wants "each event
 * exactly once in my tables" gives a handler and runs core's `Consumer` on this store: dedup, offsets and the
 * recognition of redelivered entries are the aggregator's own `agg_commit`, unchanged.
 *
 * One commit is `BEGIN; SELECT … FROM agg_commit(…); <handler>; COMMIT` on one connection. The handler sees only
 * the events classified `New`, in batch order, and the open transaction; duplicates, conflicting resends and
 * redeliveries never reach it. Its writes and the dedup record commit together or not at all: a handler failure
 * rolls back both, the entries stay pending, and the failure becomes an `EventStoreError` whose `retryable` the
 * handler chose (`InboxHandlerError`), so the consumer retries it forever or isolates and dead-letters the entry.
 *
 * Our tables (`events`, `topics`, `deliveries`, `conflicts`, `conflict_keys`, Kysely's migration tables) and the
 * `agg_commit` function live in a schema of their own (`agg` by default), reached through the connection's
 * `search_path` (`<schema>, public`): the migrations and `agg_commit` run unchanged, and unqualified names resolve
 * to ours first, then to the service's in `public`. So the service creates its own tables with the schema named
 * (`db.schema.withSchema("public")`), and should not name a table like one of ours.
 *
 * The handler runs while the batch's topic locks are held (taken by `agg_commit`, released at COMMIT): a slow
 * handler holds back every other committer of those topics, and every all-topics reader of this database (their
 * visibility horizon waits for the oldest open write transaction).
 *
 * `run` is the whole consumer process around it: the aggregator's Redis stream read with the service's own
 * consumer group, this store, and core's `Consumer` behind `GracefulStop`.
 *
 * @remarks The store does not retry (the consumer does) and does not own the service's schema: the service
 * creates its own tables (`setup`, run under an advisory lock after our migrations, or its own tool).
 */
import { Consumer, EventLog, EventStore, GracefulStop } from "@agg/core"
import type { Event } from "@agg/schema"
import { Context, Data, Duration, Effect, Layer, type Redacted } from "effect"
import { type Kysely, sql, type Transaction } from "kysely"
import * as RedisEventLog from "../redis/RedisEventLog.ts"
import type { Database } from "./Database.ts"
import { makeKysely, type PgConfig, scoped } from "./PgConnection.ts"
import { toEventStoreError } from "./PgError.ts"
import * as PgEventStore from "./PgEventStore.ts"

/** The schema of our tables when none is given. @category models */
export const defaultSchema = "agg"

/** The Kysely database type of a service's connection: its own tables (`DB`) and ours. @category models */
export type InboxDatabase<DB> = DB & Database

/** One new event handed to the handler: the event, its per-topic offset, and the broker entry that carried it. @category models */
export interface NewEvent {
  readonly event: Event
  readonly offset: number
  readonly deliveryId?: EventLog.EntryRef
}

/**
 * A failure of the handler, saying whether a later attempt may succeed: `retryable` (a lock timeout or a
 * serialization failure in the service's own tables, a downstream outage) is retried with backoff, forever, and
 * never dead-lettered; not retryable (the event's content is refused) goes through the consumer's isolation and
 * dead-letter rules. Anything else the handler throws is classified like a driver error (`PgError`): SQLSTATE
 * classes 21, 22, 23 and 54 and errors that are not about the connection are not retryable, the rest are.
 * @category errors
 */
export class InboxHandlerError extends Data.TaggedError("InboxHandlerError")<{
  readonly retryable: boolean
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The service's code, run inside the commit's transaction with the new events only (never empty). A plain async
 * function or an Effect; either may fail with `InboxHandlerError`.
 * @category models
 */
export type Handler<DB> = (
  events: ReadonlyArray<NewEvent>,
  trx: Transaction<InboxDatabase<DB>>
) => Promise<void> | Effect.Effect<void, InboxHandlerError>

/** Options of `make`. @category models */
export interface MakeOptions<DB> {
  readonly handler: Handler<DB>
  /** The schema of our tables; the connection's `search_path` must start with it (see `connect`). Default `agg`. */
  readonly schema?: string
  /**
   * The service's own set-up (e.g. creating its tables in `public`, idempotently), run at every start after our
   * migrations, under an advisory lock so that processes starting at once take turns.
   */
  readonly setup?: (db: Kysely<InboxDatabase<DB>>) => Promise<void>
}

const handlerFailure = (cause: unknown): EventStore.EventStoreError =>
  cause instanceof InboxHandlerError
    ? new EventStore.EventStoreError({
        operation: "commit",
        retryable: cause.retryable,
        message: `handler failed: ${cause.message}`,
        cause
      })
    : toEventStoreError("commit", cause)

// Runs the handler, whichever shape it has, as an Effect failing with the port's error; a throw or a defect is
// classified like any other failure (never a crash of the consumer).
const runHandler = <DB>(
  handler: Handler<DB>,
  events: ReadonlyArray<NewEvent>,
  trx: Transaction<InboxDatabase<DB>>
): Effect.Effect<void, EventStore.EventStoreError> =>
  Effect.try({ try: () => handler(events, trx), catch: handlerFailure }).pipe(
    Effect.flatMap((result) =>
      Effect.isEffect(result)
        ? Effect.mapError(result, handlerFailure)
        : Effect.tryPromise({ try: () => result, catch: handlerFailure })
    ),
    Effect.catchDefect((defect) => Effect.fail(handlerFailure(defect)))
  )

const use = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => toEventStoreError(operation, cause) })

// An arbitrary constant of our own, apart from the migrations' lock.
const SETUP_LOCK_KEY = 7_342_019_118_455_002n

// Runs `f` on one connection under a session-level advisory lock, so processes starting at once never race on
// CREATE SCHEMA or on the service's own CREATE TABLE IF NOT EXISTS (which can fail with a unique violation).
const underSetupLock = <DB, A>(db: Kysely<DB>, f: (conn: Kysely<DB>) => Promise<A>): Promise<A> =>
  db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${sql.lit(SETUP_LOCK_KEY)})`.execute(conn)
    try {
      return await f(conn)
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(SETUP_LOCK_KEY)})`.execute(conn)
    }
  })

// Creates the schema of our tables; returns the schema unqualified names are created in (the first of the
// search_path that exists), which must be it.
const prepareSchema = (db: Kysely<Database>, schema: string) =>
  underSetupLock(db, async (conn) => {
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(conn)
    const { rows } = await sql<{ current: string }>`SELECT current_schema() AS current`.execute(conn)
    return rows[0]!.current
  })

/**
 * The inbox store on an open Kysely instance whose `search_path` starts with `schema` (see `connect`; for PGlite,
 * `makePgliteKysely({ searchPath: [schema, "public"] })` of `@agg/storage/pglite`). Creates the schema, migrates
 * our tables, runs the service's `setup`. The caller owns `db`. Reads, stats and the delivery records are those
 * of `PgEventStore`; `totals` are refreshed at most every second.
 * @category constructors
 */
export const make = <DB>(
  db: Kysely<InboxDatabase<DB>>,
  options: MakeOptions<DB>
): Effect.Effect<EventStore.EventStore["Service"], EventStore.EventStoreError> =>
  Effect.gen(function* () {
    const schema = options.schema ?? defaultSchema
    // Our functions know only our tables; the service's type adds tables, so the same connection serves both.
    const ours = db as unknown as Kysely<Database>
    const current = yield* use("migrate", () => prepareSchema(ours, schema))
    if (current !== schema) {
      return yield* new EventStore.EventStoreError({
        operation: "migrate",
        retryable: false,
        message: `the connection's search_path must start with ${schema}, not ${current}: open it with Inbox.connect`
      })
    }
    // BEGIN; agg_commit; handler (new events only); COMMIT. Any failure, or an interrupt, rolls back.
    const commitWithHandler = (batch: ReadonlyArray<EventStore.Delivery>) =>
      Effect.acquireUseRelease(
        use("commit", () => db.startTransaction().execute()),
        (trx) =>
          Effect.gen(function* () {
            const outcomes = yield* use("commit", () =>
              PgEventStore.commitBatch(trx as unknown as Kysely<Database>, batch)
            )
            const fresh: Array<NewEvent> = []
            for (const [i, outcome] of outcomes.entries()) {
              if (outcome._tag !== "New") continue
              const { event, deliveryId } = batch[i]!
              fresh.push(
                deliveryId === undefined
                  ? { event, offset: outcome.offset }
                  : { event, offset: outcome.offset, deliveryId }
              )
            }
            if (fresh.length > 0) yield* runHandler(options.handler, fresh, trx)
            yield* use("commit", () => trx.commit().execute())
            return outcomes as ReadonlyArray<EventStore.Outcome>
          }).pipe(Effect.withSpan("Inbox.commit")),
        (trx) =>
          trx.isCommitted || trx.isRolledBack
            ? Effect.void
            : Effect.promise(() =>
                trx
                  .rollback()
                  .execute()
                  .catch(() => undefined)
              )
      )

    // Reads, stats and totals are the event store's; only the commit is ours.
    const store = yield* PgEventStore.make(ours, { commitWith: commitWithHandler })
    if (options.setup !== undefined) {
      const setup = options.setup
      yield* use("setup", () => underSetupLock(db, setup))
    }
    return store
  })

/** Settings of a PostgreSQL connection for the inbox. @category models */
export interface ConnectConfig extends Omit<PgConfig, "searchPath"> {
  /** The schema of our tables (default `agg`); the service's stay in `public`. */
  readonly schema?: string
}

/**
 * Kysely on PostgreSQL with the inbox's `search_path` (`<schema>, public`), typed with the service's tables and
 * ours; the caller destroys it.
 * @category constructors
 */
export const connect = <DB>(config: ConnectConfig): Kysely<InboxDatabase<DB>> => {
  const { schema = defaultSchema, ...pool } = config
  return makeKysely({ ...pool, searchPath: [schema, "public"] }) as unknown as Kysely<InboxDatabase<DB>>
}

/**
 * The inbox as the `EventStore` on PostgreSQL: opens the pool (`connect`), prepares the schema, migrates, runs
 * `setup`; closes the pool on release.
 * @category layers
 */
export const layer = <DB>(
  config: ConnectConfig & MakeOptions<DB>
): Layer.Layer<EventStore.EventStore, EventStore.EventStoreError> =>
  Layer.effect(
    EventStore.EventStore,
    Effect.flatMap(
      scoped(() => connect<DB>(config) as unknown as Kysely<Database>),
      (db) => make(db as unknown as Kysely<InboxDatabase<DB>>, config)
    )
  )

/** Where the inbox's database is: a URL (a pool is opened with `connect`), or an open Kysely instance. @category models */
export type DatabaseSource<DB> =
  | { readonly databaseUrl: string | Redacted.Redacted<string>; readonly poolSize?: number }
  | { readonly db: Kysely<InboxDatabase<DB>> }

/**
 * Where the events come from: @agg's Redis stream (`streamKey`, the aggregator's `STREAM_KEY`) read with a
 * consumer group of the service's own, or any `EventLog` layer.
 * @category models
 */
export type LogSource =
  | {
      /** The Redis (with `clusterNodes`: only the credentials and scheme for every node). */
      readonly redisUrl?: string | Redacted.Redacted<string>
      /** `host:port` of Redis Cluster masters (the aggregator's `REDIS_CLUSTER_NODES`). */
      readonly clusterNodes?: ReadonlyArray<string>
      readonly streamKey: string
      readonly group: string
    }
  | { readonly log: Layer.Layer<EventLog.EventLog, EventLog.EventLogError> }

/** Options of `run`. @category models */
export type RunOptions<DB> = MakeOptions<DB> &
  DatabaseSource<DB> &
  LogSource & {
    /** This process's consumer name in the group; unique per running process (e.g. with the host name). */
    readonly consumer: string
    /** The Consumer's other options (batch size, block, reclaim, retries, dead-letter limits). */
    readonly consumerOptions?: Omit<Consumer.Options, "consumer" | "maintenance">
    /** How long a stop waits for the batch in hand to commit and be acknowledged. Default 30 seconds. */
    readonly shutdownTimeout?: Duration.Input
  }

/** A `run` option that cannot work, found before anything is opened. @category errors */
export class InboxConfigError extends Data.TaggedError("InboxConfigError")<{ readonly message: string }> {}

/**
 * Run the inbox until interrupted: the log (Redis Streams, the service's own consumer group, created at the
 * start of the stream when missing), the inbox store, and core's `Consumer` between them, behind core's
 * `GracefulStop`: on interruption (SIGTERM/SIGINT through `runMain`) it stops reading, commits and acknowledges
 * the batch in hand, then closes the connections. Several processes may run it at once with different
 * `consumer` names; a killed one's entries are reclaimed by the others.
 *
 * The group must not be the aggregator workers' (`<streamKey>:workers`): a shared group would split the entries
 * between them. Each group sees every entry of the stream. Its dead letters and consumer marks are its own. A
 * group that stops consuming holds back the trimming of the stream (entries it has not acknowledged are kept),
 * so delete a retired service's group (`XGROUP DESTROY` on every partition's stream). The log's partition count is
 * the deployment's recorded one: the inbox reads every partition, its consumers sharing them out like workers.
 *
 * @example
 * ```ts
 * Main.runMain(
 *   Inbox.run<MyTables>({
 *     databaseUrl, redisUrl, streamKey: "agg:events", group: "inventory", consumer: `inventory-${hostname()}`,
 *     setup: createMyTables,
 *     handler: async (events, trx) => { for (const { event } of events) await apply(trx, event) }
 *   })
 * )
 * ```
 * @category constructors
 */
export const run = <DB>(
  options: RunOptions<DB>
): Effect.Effect<
  never,
  EventStore.EventStoreError | EventLog.EventLogError | Consumer.ConsumerConfigError | InboxConfigError
> =>
  Effect.gen(function* () {
    if ("streamKey" in options && options.group === `${options.streamKey}:workers`) {
      return yield* new InboxConfigError({
        message: `group ${options.group} is the aggregator workers' group: give the inbox a group of its own`
      })
    }
    const opened =
      "log" in options
        ? Effect.map(Layer.build(options.log), (context) => ({
            log: Context.get(context, EventLog.EventLog),
            maintenance: undefined
          }))
        : Effect.map(
            RedisEventLog.makeScoped({
              ...(options.redisUrl === undefined ? {} : { url: options.redisUrl }),
              ...(options.clusterNodes === undefined ? {} : { clusterNodes: options.clusterNodes }),
              streamKey: options.streamKey,
              group: options.group
            }),
            (r) => ({ log: r.log, maintenance: r.trimAcknowledged })
          )
    const { log, maintenance } = yield* opened
    const db =
      "db" in options
        ? options.db
        : ((yield* scoped(
            () =>
              connect<DB>({
                url: options.databaseUrl,
                poolSize: options.poolSize ?? 2,
                ...(options.schema === undefined ? {} : { schema: options.schema })
              }) as unknown as Kysely<Database>
          )) as unknown as Kysely<InboxDatabase<DB>>)
    const store = yield* make(db, options)
    const gated = yield* Layer.build(GracefulStop.layer.pipe(Layer.provide(Layer.succeed(EventLog.EventLog, log))))
    const consumer = yield* Consumer.make({
      ...options.consumerOptions,
      consumer: options.consumer,
      ...(maintenance === undefined ? {} : { maintenance })
    }).pipe(Effect.provideService(EventStore.EventStore, store), Effect.provide(gated))
    yield* Effect.logInfo("inbox started", {
      consumer: options.consumer,
      ...("group" in options ? { group: options.group, streamKey: options.streamKey } : {})
    })
    const timeout = Duration.fromInputUnsafe(options.shutdownTimeout ?? "30 seconds")
    return yield* GracefulStop.runGracefully(consumer, timeout).pipe(
      Effect.provide(gated),
      Effect.onInterrupt(() =>
        Effect.flatMap(consumer.metrics, (figures) => Effect.logInfo("inbox stopped", { figures }))
      )
    )
  }).pipe(Effect.scoped)
