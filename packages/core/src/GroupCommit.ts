/**
 * Group commit: many concurrent callers, few store transactions. Each caller submits its batch (one HTTP request's
 * events) and is answered only once the transaction holding it has committed. A flusher takes the waiting batches,
 * up to `maxEvents` events (a caller's batch is never split, so it commits all-or-nothing), optionally lingers up
 * to `linger` for more, and commits them as one `EventStore.commit`. While a commit runs, new callers queue up, so
 * batches grow with load without adding latency when idle.
 *
 * Bounded: when more than `capacity` events are waiting, `submit` fails at once with `GroupCommitOverloaded` (the
 * API answers 503 + Retry-After) instead of queueing without limit. Closing the scope stops accepting
 * (`GroupCommitClosed`), commits everything already accepted, then stops.
 *
 * It does not retry failed commits: a failed transaction fails every caller in it, who may retry (dedup makes
 * that safe). It knows nothing about HTTP.
 */
import { type Cause, Clock, Data, Deferred, Duration, Effect, Fiber, Option, Queue, type Scope } from "effect"
import { type Delivery, EventStore, type EventStoreError, type Outcome } from "./EventStore.ts"

/** More events are waiting than the configured capacity: try again later. @category errors */
export class GroupCommitOverloaded extends Data.TaggedError("GroupCommitOverloaded")<{
  readonly waiting: number
  readonly capacity: number
}> {}

/** The group commit is closing or closed and accepts nothing new. @category errors */
// biome-ignore lint/complexity/noBannedTypes: Data.TaggedError's way of saying "no fields"
export class GroupCommitClosed extends Data.TaggedError("GroupCommitClosed")<{}> {}

/** Invalid options, found at construction. @category errors */
export class GroupCommitConfigError extends Data.TaggedError("GroupCommitConfigError")<{ readonly message: string }> {}

/** @category models */
export interface Options {
  /** Most events per transaction (a single larger caller batch still commits alone). Default 2000. */
  readonly maxEvents?: number
  /** How long a flusher waits for more callers after the first, when the batch is not full. Default 0. */
  readonly linger?: Duration.Input
  /** Most events accepted but not yet committed; beyond it `submit` fails fast. Default `maxEvents * 16`. */
  readonly capacity?: number
  /** Transactions in flight at once (flusher fibers). Default 2. */
  readonly concurrency?: number
}

/** Figures for metrics. @category models */
export interface GroupCommitStats {
  /** Events accepted and not yet answered. */
  readonly waiting: number
  /** Transactions committed (successfully or not). */
  readonly commits: number
  /** Events in those transactions. */
  readonly events: number
}

/** @category models */
export interface GroupCommit {
  /** Commit `batch` within some group transaction; one outcome per delivery, in order. */
  readonly submit: (
    batch: ReadonlyArray<Delivery>
  ) => Effect.Effect<ReadonlyArray<Outcome>, EventStoreError | GroupCommitOverloaded | GroupCommitClosed>
  readonly stats: Effect.Effect<GroupCommitStats>
}

interface Waiting {
  readonly batch: ReadonlyArray<Delivery>
  readonly deferred: Deferred.Deferred<ReadonlyArray<Outcome>, EventStoreError | GroupCommitClosed>
}

const positiveInt = (name: string, value: number) =>
  Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : Effect.fail(new GroupCommitConfigError({ message: `${name} must be a positive integer, got ${value}` }))

/**
 * A group commit over any commit function (the store's, or a test's). Lives as long as the enclosing scope.
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (
  commit: (batch: ReadonlyArray<Delivery>) => Effect.Effect<ReadonlyArray<Outcome>, EventStoreError>,
  options: Options = {}
): Effect.fn.Return<GroupCommit, GroupCommitConfigError, Scope.Scope> {
  const maxEvents = yield* positiveInt("maxEvents", options.maxEvents ?? 2000)
  const capacity = yield* positiveInt("capacity", options.capacity ?? maxEvents * 16)
  const concurrency = yield* positiveInt("concurrency", options.concurrency ?? 2)
  const linger = Duration.fromInput(options.linger ?? 0)
  if (Option.isNone(linger)) return yield* new GroupCommitConfigError({ message: "linger must be a duration" })
  const lingerMs = Duration.toMillis(linger.value)

  const queue = yield* Queue.unbounded<Waiting, Cause.Done>()
  let waiting = 0
  let commits = 0
  let committedEvents = 0
  let closed = false

  const sizeOf = (items: ReadonlyArray<Waiting>) => items.reduce((n, w) => n + w.batch.length, 0)

  // One flusher: take a group (blocking for the first caller), commit it, answer everyone in it.
  const flusher = Effect.gen(function* () {
    let carry: Waiting | undefined
    while (true) {
      const first = carry ?? (yield* Queue.take(queue))
      carry = undefined
      const group: Array<Waiting> = [first]
      let size = first.batch.length
      const deadline = (yield* Clock.currentTimeMillis) + lingerMs
      while (size < maxEvents) {
        let next = yield* Queue.poll(queue)
        if (Option.isNone(next)) {
          const left = deadline - (yield* Clock.currentTimeMillis)
          if (left <= 0) break
          next = yield* Queue.take(queue).pipe(
            Effect.timeoutOption(Duration.millis(left)),
            Effect.catchTag("Done", () => Effect.succeedNone) // closing mid-linger: commit what we hold
          )
          if (Option.isNone(next)) break
        }
        if (size + next.value.batch.length > maxEvents) {
          carry = next.value // would overflow: first of the next group
          break
        }
        group.push(next.value)
        size += next.value.batch.length
      }
      yield* flush(group)
    }
  }).pipe(Effect.catchTag("Done", () => Effect.void)) // queue ended and drained

  // A taken group is always answered, even if the flusher is interrupted meanwhile.
  const flush = (group: ReadonlyArray<Waiting>) =>
    Effect.uninterruptible(
      Effect.gen(function* () {
        const exit = yield* Effect.exit(commit(group.flatMap((w) => w.batch)))
        commits++
        const size = sizeOf(group)
        committedEvents += size
        waiting -= size
        if (exit._tag === "Success") {
          let at = 0
          for (const w of group) {
            yield* Deferred.succeed(w.deferred, exit.value.slice(at, at + w.batch.length))
            at += w.batch.length
          }
        } else {
          for (const w of group) yield* Deferred.failCause(w.deferred, exit.cause)
        }
      })
    )

  const fibers = yield* Effect.forEach(Array.from({ length: concurrency }), () => Effect.forkScoped(flusher))

  // Graceful close: refuse new callers, let the flushers drain what was accepted, then stop.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      closed = true
      yield* Queue.end(queue)
      yield* Fiber.awaitAll(fibers)
      // Only reachable if a flusher died: nobody will commit these.
      const rest = yield* Queue.clear(queue).pipe(Effect.orElseSucceed(() => [] as Array<Waiting>))
      for (const w of rest) yield* Deferred.fail(w.deferred, new GroupCommitClosed())
    })
  )

  const submit = (batch: ReadonlyArray<Delivery>) =>
    Effect.gen(function* () {
      if (batch.length === 0) return []
      if (closed) return yield* new GroupCommitClosed()
      // An idle group commit always takes a batch, even one larger than the capacity.
      if (waiting > 0 && waiting + batch.length > capacity)
        return yield* new GroupCommitOverloaded({ waiting, capacity })
      const deferred = yield* Deferred.make<ReadonlyArray<Outcome>, EventStoreError | GroupCommitClosed>()
      waiting += batch.length
      if (!Queue.offerUnsafe(queue, { batch, deferred })) {
        waiting -= batch.length
        return yield* new GroupCommitClosed()
      }
      return yield* Deferred.await(deferred)
    })

  return {
    submit,
    stats: Effect.sync(() => ({ waiting, commits, events: committedEvents }))
  }
})

/**
 * A group commit over the `EventStore` in context.
 * @category constructors
 */
export const fromStore = (
  options: Options = {}
): Effect.Effect<GroupCommit, GroupCommitConfigError, EventStore | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    return yield* make(store.commit, options)
  })
