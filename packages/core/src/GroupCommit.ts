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
 * The commit function is any batch operation that is atomic for the whole batch, so also for each caller's part:
 * the store's commit (direct ingest), or an `EventLog` adapter's append (one transaction for many small appends).
 *
 * It does not retry failed commits: a failed transaction fails every caller in it, who may retry (dedup makes
 * that safe). It knows nothing about HTTP. See docs/design.md, "Group commit".
 */
import { type Cause, Clock, Data, Duration, Effect, Exit, Fiber, Option, Queue, type Scope } from "effect"
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

/**
 * Callers submit batches of `A`; each gets its part of the commit's results (`B`, one per item, in order) or the
 * commit's error `E`. Defaults: the store's deliveries and outcomes.
 * @category models
 */
export interface GroupCommit<A = Delivery, B = Outcome, E = EventStoreError> {
  /** Commit `batch` within some group transaction; one result per item, in order. */
  readonly submit: (
    batch: ReadonlyArray<A>
  ) => Effect.Effect<ReadonlyArray<B>, E | GroupCommitOverloaded | GroupCommitClosed>
  readonly stats: Effect.Effect<GroupCommitStats>
}

interface Waiting<A, B, E> {
  readonly batch: ReadonlyArray<A>
  /** Answers the caller (its fiber resumes at once); later calls are ignored. */
  readonly resume: (answer: Effect.Effect<ReadonlyArray<B>, E | GroupCommitClosed>) => void
}

const positiveInt = (name: string, value: number) =>
  Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : Effect.fail(new GroupCommitConfigError({ message: `${name} must be a positive integer, got ${value}` }))

/**
 * A group commit over any commit function (the store's, a log's append, or a test's) that returns one result per
 * item of the batch it is given. Lives as long as the enclosing scope.
 * @category constructors
 */
export const make = Effect.fnUntraced(function* <A = Delivery, B = Outcome, E = EventStoreError>(
  commit: (batch: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E>,
  options: Options = {}
): Effect.fn.Return<GroupCommit<A, B, E>, GroupCommitConfigError, Scope.Scope> {
  const maxEvents = yield* positiveInt("maxEvents", options.maxEvents ?? 2000)
  const capacity = yield* positiveInt("capacity", options.capacity ?? maxEvents * 16)
  const concurrency = yield* positiveInt("concurrency", options.concurrency ?? 2)
  const linger = Duration.fromInput(options.linger ?? 0)
  if (Option.isNone(linger)) return yield* new GroupCommitConfigError({ message: "linger must be a duration" })
  const lingerMs = Duration.toMillis(linger.value)

  const queue = yield* Queue.unbounded<Waiting<A, B, E>, Cause.Done>()
  let waiting = 0
  let commits = 0
  let committedEvents = 0
  let closed = false

  const sizeOf = (items: ReadonlyArray<Waiting<A, B, E>>) => items.reduce((n, w) => n + w.batch.length, 0)

  // One flusher: take a group (blocking for the first caller), commit it, answer everyone in it.
  const flusher = Effect.gen(function* () {
    let carry: Waiting<A, B, E> | undefined
    while (true) {
      const first = carry ?? (yield* Queue.take(queue))
      carry = undefined
      const group: Array<Waiting<A, B, E>> = [first]
      let size = first.batch.length
      const deadline = lingerMs > 0 ? (yield* Clock.currentTimeMillis) + lingerMs : 0
      while (size < maxEvents) {
        // Synchronous take of what is already waiting: no Effect per caller on the hot path.
        const ready = Queue.takeUnsafe(queue)
        let next = ready?._tag === "Success" ? Option.some(ready.value) : Option.none<Waiting<A, B, E>>()
        if (Option.isNone(next)) {
          if (lingerMs <= 0) break
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
  const flush = (group: ReadonlyArray<Waiting<A, B, E>>) =>
    Effect.uninterruptible(
      Effect.gen(function* () {
        const exit = yield* Effect.exit(commit(group.length === 1 ? group[0]!.batch : group.flatMap((w) => w.batch)))
        commits++
        const size = sizeOf(group)
        committedEvents += size
        waiting -= size
        // Answered synchronously, one completion per caller (a group can hold thousands).
        if (exit._tag === "Success") {
          let at = 0
          for (const w of group) {
            w.resume(Exit.succeed(group.length === 1 ? exit.value : exit.value.slice(at, at + w.batch.length)))
            at += w.batch.length
          }
        } else {
          const failed = Exit.failCause(exit.cause)
          for (const w of group) w.resume(failed)
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
      const rest = yield* Queue.clear(queue).pipe(Effect.orElseSucceed(() => [] as Array<Waiting<A, B, E>>))
      for (const w of rest) w.resume(Effect.fail(new GroupCommitClosed()))
    })
  )

  // One callback per caller and no Effect.gen: this runs once per request on the hot path of ingest. An
  // interrupted caller is not removed: its batch is committed with its group, the answer goes nowhere.
  const submit = (
    batch: ReadonlyArray<A>
  ): Effect.Effect<ReadonlyArray<B>, E | GroupCommitOverloaded | GroupCommitClosed> =>
    Effect.callback((resume) => {
      if (batch.length === 0) {
        resume(Effect.succeed([]))
      } else if (closed) {
        resume(Effect.fail(new GroupCommitClosed()))
      } else if (waiting > 0 && waiting + batch.length > capacity) {
        // An idle group commit always takes a batch, even one larger than the capacity.
        resume(Effect.fail(new GroupCommitOverloaded({ waiting, capacity })))
      } else {
        waiting += batch.length
        if (!Queue.offerUnsafe(queue, { batch, resume })) {
          waiting -= batch.length
          resume(Effect.fail(new GroupCommitClosed()))
        }
      }
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
