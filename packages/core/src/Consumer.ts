/**
 * The idempotent consumer: read a batch from the `EventLog`, commit it to the `EventStore`, then acknowledge it.
 * Never acknowledges before the commit that holds the entries, so a crash at any point leaves them pending, to be
 * reclaimed and committed again, where the store recognises the delivery ids (`Redelivered`) and counts nothing
 * twice. This is the whole of "ack after commit" (docs/invariants.md) as a program:
 *
 * - retryable store/log failures are retried with capped exponential backoff and jitter, forever, while the
 *   entries stay pending (the reclaim pass is paused while the store is failing, so an outage does not use up
 *   delivery counts);
 * - a non-retryable commit failure is bisected to isolate the entries that fail alone; those are dead-lettered
 *   with the error as reason, the rest commit;
 * - an entry delivered more than `isolateAfter` times (its consumers died or stalled on it) is committed alone,
 *   so it can neither take a batch down with it nor be lost with one; an entry delivered more than
 *   `maxDeliveries` times, or undecodable, is dead-lettered unprocessed;
 * - before dead-lettering an entry, the store is asked whether its delivery was committed (`EventStore.committed`):
 *   if so (every consumer that held it died between commit and ack) it is only acknowledged, so its event is not
 *   counted both as processed and as dead-lettered; while the store cannot answer, it stays pending;
 * - liveness: the consumer marks itself alive (`EventLog.heartbeat`, ttl `heartbeatTtl`) before it reads and then
 *   from a fiber of its own, every third of the ttl, so its mark never lapses while it runs, however slow a batch;
 *   when it is stopped (interrupted) it cuts its mark to 1 ms, so the others take its partitions over at their
 *   next heartbeat instead of a ttl later;
 * - a reclaim pass every `reclaimInterval` takes over the entries of dead consumers (no live mark) idle longer
 *   than `reclaimIdle`, so a killed consumer's work moves within about `heartbeatTtl + reclaimInterval`. A live
 *   consumer's entries are never taken, however long they wait: no idle-time fallback, since a consumer that runs
 *   but never finishes is a bug to see (its pending count), and taking its entries would only add a second,
 *   equally stuck holder. The pass waits `reclaimGrace` after the log was last unreachable (and at start):
 *   a Redis that restarted lost or expired every mark at once, and live consumers need that long to beat again;
 *   the pass also pauses while the store fails, so no outage of either server uses up delivery counts. The pass
 *   also takes back this consumer's own entries pending longer than `lostAfter` that it does not hold: a read
 *   the broker served whose reply was lost with the connection (only the consumer knows what it holds, so this
 *   never touches a slow batch);
 * - every `maintenanceInterval` (checked after a reclaim pass) the optional `maintenance` effect runs (e.g.
 *   trimming acknowledged stream entries) and the store forgets old records of delivered entries;
 * - interruption is a graceful stop: a batch in hand is committed and acknowledged before the fiber ends (unless
 *   the store is down: then it stays pending for the next consumer).
 *
 * It does not decode, validate or transform events (the log decodes; the store dedups), and does not choose how
 * many consumers run: run one `Consumer` per worker fiber, each with its own `consumer` name.
 */
import { Clock, Data, Duration, Effect, Fiber, Option, Random, Schedule } from "effect"
import { type EntryRef, EventLog, type EventLogError, type LogEntry, refKey } from "./EventLog.ts"
import { EventStore, type Outcome } from "./EventStore.ts"

/** @category models */
export interface Options {
  /** This consumer's name in the group; unique per running consumer. */
  readonly consumer: string
  /** Most entries read (and committed) at once. Default 500. */
  readonly batchSize?: number
  /** How long one read waits for entries. Default 1 second. */
  readonly block?: Duration.Input
  /**
   * How long this consumer's liveness mark lasts; it is refreshed every third of it. After a kill, its entries
   * become reclaimable once the mark expired. Default 3 seconds.
   */
  readonly heartbeatTtl?: Duration.Input
  /** Entries of a dead consumer pending longer than this are taken over. Default 3 seconds. */
  readonly reclaimIdle?: Duration.Input
  /** How often the reclaim pass runs. Default 1 second. */
  readonly reclaimInterval?: Duration.Input
  /**
   * How long the reclaim pass waits after the log was unreachable (and after start), so that every live consumer
   * has beaten again after a broker restart before any counts as dead. Default twice `heartbeatTtl`.
   */
  readonly reclaimGrace?: Duration.Input
  /**
   * This consumer's own pending entries that it does not hold (a read served by the broker whose reply was lost)
   * are taken back once idle this long; longer than any read can take. Default 30 seconds.
   */
  readonly lostAfter?: Duration.Input
  /** How often `maintenance` and the forgetting of old delivery records run. Default 5 seconds. */
  readonly maintenanceInterval?: Duration.Input
  /** An entry delivered more often than this is committed on its own, not in a batch. Default 2. */
  readonly isolateAfter?: number
  /** An entry delivered more often than this is dead-lettered unprocessed. Default 5. */
  readonly maxDeliveries?: number
  /** First retry delay after a retryable failure; doubles on each further failure. Default 100 ms. */
  readonly retryBase?: Duration.Input
  /** Longest retry delay. Default 5 seconds. */
  readonly retryCap?: Duration.Input
  /**
   * How long the store keeps the record of a committed entry once the log can no longer deliver it (below its
   * `deliveryFloor`): the margin for an acknowledgement a broker crash could undo. Records are forgotten every
   * `maintenanceInterval`, so the record stays bounded. Default 24 hours.
   */
  readonly forgetAfter?: Duration.Input
  /**
   * Housekeeping run every `maintenanceInterval` (after a reclaim pass), e.g. the Redis adapter's
   * `RedisStreamMaintenance.trimAcknowledged`. Its failures are logged and never stop the consumer. Default none.
   */
  readonly maintenance?: Effect.Effect<unknown, EventLogError>
}

/** Invalid options, found at construction. @category errors */
export class ConsumerConfigError extends Data.TaggedError("ConsumerConfigError")<{ readonly message: string }> {}

/**
 * Counters since the consumer was made, for metrics. `events` counts committed deliveries
 * (= unique + duplicates + redelivered; conflicts are a subset of duplicates). `redelivered` counts deliveries
 * found already committed: recognised by a commit, or found by the check before dead-lettering (then acknowledged).
 * @category models
 */
export interface ConsumerMetrics {
  readonly batches: number
  readonly events: number
  readonly unique: number
  readonly duplicates: number
  readonly conflicts: number
  readonly redelivered: number
  readonly reclaimed: number
  readonly deadLettered: number
  /** Records of committed entries the store was told to forget (see `Options.forgetAfter`). */
  readonly forgotten: number
  readonly retries: number
  /** Sum and last of the commit durations (store call only), in milliseconds. */
  readonly commitMillisTotal: number
  readonly lastCommitMillis: number
}

/** @category models */
export interface Consumer {
  /** Heartbeat, then read → commit → ack forever, with the heartbeat and reclaim passes beside it. Interrupt to stop gracefully. */
  readonly run: Effect.Effect<never, EventLogError>
  /** One read (waiting up to `block`) and the processing of what came; returns the number of entries handled. */
  readonly poll: Effect.Effect<number, EventLogError>
  /**
   * One reclaim pass (all reclaimable entries, page by page), whatever the grace (the run loop applies it);
   * returns the number of entries taken over.
   */
  readonly reclaim: Effect.Effect<number, EventLogError>
  readonly metrics: Effect.Effect<ConsumerMetrics>
}

type EventEntry = Extract<LogEntry, { _tag: "Event" }>

const durationOf = (name: string, input: Duration.Input | undefined, fallback: Duration.Duration) => {
  if (input === undefined) return Effect.succeed(fallback)
  const d = Duration.fromInput(input)
  return Option.isSome(d) && Duration.toMillis(d.value) >= 0 && Number.isFinite(Duration.toMillis(d.value))
    ? Effect.succeed(d.value)
    : Effect.fail(new ConsumerConfigError({ message: `${name} must be a finite duration` }))
}
const positiveInt = (name: string, value: number) =>
  Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : Effect.fail(new ConsumerConfigError({ message: `${name} must be a positive integer, got ${value}` }))

/**
 * A consumer over the `EventLog` and `EventStore` in context. Options are validated here.
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (
  options: Options
): Effect.fn.Return<Consumer, ConsumerConfigError, EventLog | EventStore> {
  const log = yield* EventLog
  const store = yield* EventStore
  if (typeof options.consumer !== "string" || options.consumer.length === 0)
    return yield* new ConsumerConfigError({ message: "consumer must be a non-empty name" })
  const consumer = options.consumer
  const batchSize = yield* positiveInt("batchSize", options.batchSize ?? 500)
  const maxDeliveries = yield* positiveInt("maxDeliveries", options.maxDeliveries ?? 5)
  const isolateAfter = yield* positiveInt("isolateAfter", options.isolateAfter ?? 2)
  const block = yield* durationOf("block", options.block, Duration.seconds(1))
  const heartbeatTtl = yield* durationOf("heartbeatTtl", options.heartbeatTtl, Duration.seconds(3))
  if (Duration.toMillis(heartbeatTtl) < 3)
    return yield* new ConsumerConfigError({ message: "heartbeatTtl must be at least 3 ms" })
  const reclaimIdle = yield* durationOf("reclaimIdle", options.reclaimIdle, Duration.seconds(3))
  const reclaimInterval = yield* durationOf("reclaimInterval", options.reclaimInterval, Duration.seconds(1))
  const reclaimGrace = Duration.toMillis(
    yield* durationOf("reclaimGrace", options.reclaimGrace, Duration.times(heartbeatTtl, 2))
  )
  const lostAfter = yield* durationOf("lostAfter", options.lostAfter, Duration.seconds(30))
  const maintenanceInterval = Duration.toMillis(
    yield* durationOf("maintenanceInterval", options.maintenanceInterval, Duration.seconds(5))
  )
  const forgetAfter = yield* durationOf("forgetAfter", options.forgetAfter, Duration.hours(24))
  const retryBase = Duration.toMillis(yield* durationOf("retryBase", options.retryBase, Duration.millis(100)))
  const retryCap = Duration.toMillis(yield* durationOf("retryCap", options.retryCap, Duration.seconds(5)))
  if (retryCap < retryBase) return yield* new ConsumerConfigError({ message: "retryCap must be >= retryBase" })

  const maintenance = options.maintenance

  const m = {
    batches: 0,
    events: 0,
    unique: 0,
    duplicates: 0,
    conflicts: 0,
    redelivered: 0,
    reclaimed: 0,
    deadLettered: 0,
    forgotten: 0,
    retries: 0,
    commitMillisTotal: 0,
    lastCommitMillis: 0
  }
  // False from a retryable commit failure until the next successful commit: pauses the reclaim pass.
  let storeHealthy = true
  // Since when the log has answered without a failure in between (undefined: not yet since start, or it just
  // failed); the reclaim pass waits `reclaimGrace` after it.
  let reachableSince: number | undefined
  const unreachable = Effect.sync(() => {
    reachableSince = undefined
  })
  // The refKeys of the entries in hand (read or reclaimed, not yet finished): the reclaim pass takes back this
  // consumer's own pending entries that are not among them.
  const inHand = new Set<string>()
  const hold = (entries: ReadonlyArray<LogEntry>) =>
    Effect.sync(() => {
      for (const e of entries) inHand.add(refKey(e))
    })

  // Capped exponential backoff, forever, with "equal jitter": half of each delay fixed, half random (never longer
  // than the nominal delay, so a test's clock can step past it). One policy for every retried step.
  const backoff = Schedule.min([
    Schedule.exponential(Duration.millis(retryBase)),
    Schedule.spaced(Duration.millis(retryCap))
  ]).pipe(
    Schedule.modifyDelay(({ duration }) => {
      const half = Duration.toMillis(duration) / 2
      return Effect.map(Random.next, (r) => Duration.millis(half + half * r))
    })
  )
  type Restore = <X, E, R>(e: Effect.Effect<X, E, R>) => Effect.Effect<X, E, R>

  /**
   * Run `operation` and retry its retryable failures on `backoff`, forever; non-retryable ones fail. `onRetry`
   * runs before each wait. Runs in the caller's (uninterruptible) region: an attempt always finishes; only the
   * waits between attempts are interruptible, through `restore` (a stop then leaves the entries pending).
   */
  const retrying = <A, E extends { readonly retryable: boolean }>(
    operation: Effect.Effect<A, E>,
    restore: Restore,
    onRetry: (error: E) => Effect.Effect<void>
  ): Effect.Effect<A, E> =>
    Effect.gen(function* () {
      const wait = yield* Schedule.toStepWithSleep(backoff)
      for (;;) {
        const result = yield* Effect.result(operation)
        if (result._tag === "Success") return result.success
        if (!result.failure.retryable) return yield* Effect.fail(result.failure)
        m.retries++
        yield* onRetry(result.failure)
        yield* restore(Effect.ignore(wait(undefined)))
      }
    })

  /** Run a log operation, retrying retryable failures forever; non-retryable ones fail the consumer. */
  const logOp = <A>(operation: Effect.Effect<A, EventLogError>, restore: Restore): Effect.Effect<A, EventLogError> =>
    retrying(operation, restore, (error) =>
      Effect.andThen(
        unreachable,
        Effect.logWarning(`${consumer}: log ${error.operation} failed, retrying: ${error.message}`)
      )
    )

  const deadLetter = (entry: LogEntry, reason: string, restore: Restore) =>
    Effect.gen(function* () {
      yield* Effect.logWarning(`${consumer}: dead-lettering ${entry.id}: ${reason}`)
      yield* logOp(log.deadLetter(entry, reason), restore)
      m.deadLettered++
    })

  /**
   * The delivery ids among `ids` the store has committed. Retryable failures are retried (the entries stay
   * pending meanwhile); undefined when the store fails for good, so the caller can leave the entries pending.
   */
  const committedOf = (
    refs: ReadonlyArray<EntryRef>,
    restore: Restore
  ): Effect.Effect<ReadonlySet<string> | undefined> =>
    retrying(store.committed(refs), restore, (failure) =>
      Effect.andThen(
        Effect.sync(() => {
          storeHealthy = false
        }),
        Effect.logWarning(`${consumer}: committed lookup failed, retrying: ${failure.message}`)
      )
    ).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          storeHealthy = true
        })
      ),
      Effect.catch((failure) =>
        Effect.as(
          Effect.logWarning(
            `${consumer}: cannot tell whether ${refs.map((r) => r.id).join(", ")} committed: ${failure.message}`
          ),
          undefined
        )
      )
    )

  /**
   * Dead-letter entries that must not be committed (again), except those whose delivery is committed already:
   * a consumer died between their commit and their ack. Those are acknowledged only, since the store counted
   * their events; dead-lettering them would count them a second time. When the store cannot say, every entry
   * stays pending (to be reclaimed and checked again later) rather than risk counting one twice.
   */
  const retire = (entries: ReadonlyArray<EventEntry>, reasonOf: (entry: EventEntry) => string, restore: Restore) =>
    Effect.gen(function* () {
      if (entries.length === 0) return
      const done = yield* committedOf(entries, restore)
      if (done === undefined) return
      const acked = entries.filter((e) => done.has(refKey(e)))
      if (acked.length > 0) {
        yield* Effect.logInfo(`${consumer}: ${acked.map((e) => e.id).join(", ")} committed before, acknowledging`)
        yield* logOp(log.ack(acked), restore)
        m.events += acked.length
        m.redelivered += acked.length
      }
      for (const entry of entries) if (!done.has(refKey(entry))) yield* deadLetter(entry, reasonOf(entry), restore)
    })

  const count = (outcomes: ReadonlyArray<Outcome>, millis: number) => {
    m.batches++
    m.events += outcomes.length
    m.commitMillisTotal += millis
    m.lastCommitMillis = millis
    for (const o of outcomes) {
      if (o._tag === "New") m.unique++
      else if (o._tag === "Redelivered") m.redelivered++
      else {
        m.duplicates++
        if (o._tag === "Conflict") m.conflicts++
      }
    }
  }

  /**
   * Commit these entries, then ack them. Retryable failures: back off and try again (entries stay pending).
   * Non-retryable: bisect until the failing entries are alone, dead-letter those.
   */
  const commitAndAck = (entries: ReadonlyArray<EventEntry>, restore: Restore): Effect.Effect<void, EventLogError> =>
    Effect.gen(function* () {
      if (entries.length === 0) return
      const batch = entries.map((e) => ({ deliveryId: { stream: e.stream, id: e.id }, event: e.event }))
      const started = yield* Clock.currentTimeMillis
      const result = yield* Effect.result(
        retrying(store.commit(batch), restore, (failure) =>
          Effect.andThen(
            Effect.sync(() => {
              storeHealthy = false
            }),
            Effect.logWarning(`${consumer}: commit failed, retrying: ${failure.message}`)
          )
        )
      )
      if (result._tag === "Success") {
        storeHealthy = true
        count(result.success, (yield* Clock.currentTimeMillis) - started)
        // Only now, with the commit done, may the entries leave the pending list.
        yield* logOp(log.ack(entries), restore)
        return
      }
      const failure = result.failure
      if (entries.length === 1) {
        const reason = `commit failed: ${failure.message}`
        yield* retire(entries, () => reason, restore)
        return
      }
      const half = Math.ceil(entries.length / 2)
      yield* commitAndAck(entries.slice(0, half), restore)
      yield* commitAndAck(entries.slice(half), restore)
    })

  const handle = (entries: ReadonlyArray<LogEntry>, restore: Restore) =>
    Effect.ensuring(
      handleHeld(entries, restore),
      Effect.sync(() => {
        for (const e of entries) inHand.delete(refKey(e))
      })
    )

  const handleHeld = (entries: ReadonlyArray<LogEntry>, restore: Restore) =>
    Effect.gen(function* () {
      const good: Array<EventEntry> = []
      const suspects: Array<EventEntry> = []
      const exhausted: Array<EventEntry> = []
      for (const entry of entries) {
        if (entry._tag === "Undecodable") yield* deadLetter(entry, `undecodable: ${entry.reason}`, restore)
        else if (entry.deliveries > maxDeliveries) exhausted.push(entry)
        else if (entry.deliveries > isolateAfter) suspects.push(entry)
        else good.push(entry)
      }
      yield* retire(exhausted, (e) => `delivered ${e.deliveries} times (max ${maxDeliveries})`, restore)
      yield* commitAndAck(good, restore)
      for (const entry of suspects) yield* commitAndAck([entry], restore)
      return entries.length
    })

  // Entries in hand are always finished: only the read itself and the backoff sleeps can be interrupted.
  const readWith = (restore: Restore) =>
    Effect.tap(logOp(restore(log.read(consumer, { count: batchSize, block })), restore), hold)

  const poll = Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const entries = yield* readWith(restore)
      return yield* handle(entries, restore)
    })
  )

  // The run loop overlaps the stages: the next batch is read (and decoded) while this one commits and is acked, so
  // the consumer never waits for the broker between commits. Each entry is still acked only after its commit; at
  // most two batches are in hand. The read may be interrupted, the batch in hand never is.
  const pollLoop: Effect.Effect<never, EventLogError> = Effect.gen(function* () {
    // With `block` zero an empty log would make the loop spin: pause briefly after an empty read then.
    const idle = Duration.toMillis(block) === 0 ? Effect.sleep(Duration.millis(50)) : Effect.void
    let entries = yield* Effect.uninterruptibleMask(readWith)
    for (;;) {
      if (entries.length === 0) {
        yield* idle
        entries = yield* Effect.uninterruptibleMask(readWith)
        continue
      }
      const inHand = entries
      entries = yield* Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          // The read runs in its own interruptible fiber; a stop reaches it through the join (this fiber's
          // children end with it).
          const next = yield* Effect.forkChild(restore(readWith(restore)))
          yield* handle(inHand, restore)
          return yield* restore(Fiber.join(next))
        })
      )
    }
  })

  const reclaim = Effect.gen(function* () {
    let total = 0
    while (true) {
      const taken = yield* Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          // Not retried: a pass that lost the log ends here, and the next one waits for the grace again (a retry
          // would claim right after a broker restart, before the live consumers could beat again).
          const result = yield* Effect.result(
            restore(
              log.reclaim(consumer, {
                minIdle: reclaimIdle,
                count: batchSize,
                own: { minIdle: lostAfter, held: inHand }
              })
            )
          )
          if (result._tag === "Failure") {
            if (!result.failure.retryable) return yield* Effect.fail(result.failure)
            yield* unreachable
            yield* Effect.logWarning(`${consumer}: reclaim failed, skipping this pass: ${result.failure.message}`)
            return undefined
          }
          const entries = result.success
          yield* hold(entries)
          m.reclaimed += entries.length
          return yield* handle(entries, restore)
        })
      )
      if (taken === undefined) return total
      total += taken
      if (taken < batchSize) return total
    }
  })

  // Housekeeping must never stop consuming: its failures are only logged.
  const maintain =
    maintenance === undefined
      ? Effect.void
      : maintenance.pipe(
          Effect.catch((error) => Effect.logWarning(`${consumer}: maintenance failed: ${error.message}`)),
          Effect.asVoid
        )

  // The record of committed entries only needs the entries the log can still deliver; like housekeeping, a
  // failure here is logged and tried again after the next pass.
  const forget = Effect.gen(function* () {
    for (const floor of yield* log.deliveryFloor) {
      m.forgotten += yield* store.forget(floor, { olderThan: forgetAfter })
    }
  }).pipe(
    Effect.catch((error) => Effect.logWarning(`${consumer}: forgetting delivered entries failed: ${error.message}`))
  )

  const reclaimLoop = Effect.gen(function* () {
    let maintainedAt = yield* Clock.currentTimeMillis
    while (true) {
      yield* Effect.sleep(reclaimInterval)
      const now = yield* Clock.currentTimeMillis
      if (storeHealthy && reachableSince !== undefined && now - reachableSince >= reclaimGrace) yield* reclaim
      if (now - maintainedAt >= maintenanceInterval) {
        maintainedAt = now
        yield* maintain
        if (storeHealthy) yield* forget
      }
    }
  })

  // One heartbeat; a failure only marks the log unreachable (the next beat tries again), never stops the consumer.
  const beat = log.heartbeat(consumer, heartbeatTtl).pipe(
    Effect.andThen(
      Effect.gen(function* () {
        if (reachableSince === undefined) reachableSince = yield* Clock.currentTimeMillis
      })
    ),
    Effect.catch((error) =>
      Effect.andThen(unreachable, Effect.logWarning(`${consumer}: heartbeat failed: ${error.message}`))
    )
  )
  const heartbeatLoop = Effect.forever(
    Effect.andThen(Effect.sleep(Duration.millis(Math.floor(Duration.toMillis(heartbeatTtl) / 3))), beat)
  )

  const run: Effect.Effect<never, EventLogError> = Effect.gen(function* () {
    // Alive before the first read, so no other consumer ever sees this one's entries without a mark.
    yield* beat
    yield* Effect.logInfo(`${consumer}: consuming`)
    return yield* Effect.raceFirst(pollLoop, Effect.raceFirst(reclaimLoop, heartbeatLoop))
  }).pipe(
    Effect.onInterrupt(() =>
      // Leave at once instead of when the mark expires: the others take this consumer's partitions (and anything
      // it still holds) at their next heartbeat rather than a ttl later. Best effort: a log that does not answer
      // within a second leaves the mark to expire by itself.
      log
        .heartbeat(consumer, Duration.millis(1))
        .pipe(
          Effect.timeoutOption(Duration.seconds(1)),
          Effect.ignore,
          Effect.andThen(Effect.logInfo(`${consumer}: stopped`))
        )
    )
  )

  return { run, poll, reclaim, metrics: Effect.sync(() => ({ ...m })) }
})

/**
 * Make a consumer and run it until interrupted (see `Consumer.run`).
 * @category constructors
 */
export const run = (
  options: Options
): Effect.Effect<never, ConsumerConfigError | EventLogError, EventLog | EventStore> =>
  Effect.flatMap(make(options), (c) => c.run)
