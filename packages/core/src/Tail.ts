/**
 * The live tail behind GET /events/stream: each subscriber gets the events after its cursor (per topic: offsets;
 * all topics: positions), then every event as it commits, in order, each exactly once.
 *
 * How. A new subscriber first reads its backlog from the store itself, page after page. Once a page comes back
 * short and its cursor has reached the shared reader of its topic (one per topic, one for all topics; made by
 * its first subscriber, stopped with its last), it joins that reader: the check and the joining happen in one
 * synchronous step, and the reader hands out a page in one synchronous step, so from then on the reader delivers
 * every event above the subscriber's cursor and the subscriber skips what it already had. The reader reads when
 * woken (`wake`, called on a `CommitSignal`) and on a slow timer (`pollInterval`) that covers a lost wake-up; no
 * subscriber ever polls the store once it has joined.
 *
 * Each subscriber has a bounded buffer (`capacity` events). A subscriber that lets it fill is dropped: its next
 * takes drain what it holds, then fail with `TailOverflow`, so it is told why, never silently skipped (it may
 * resume from its last cursor). A reader's store failure is logged and retried on the next wake-up or tick;
 * its subscribers keep waiting. A subscriber's own backlog read fails its take with the `EventStoreError`.
 *
 * The all-topics order is the store's: a reader (like any `read` without topic) sees an event once every
 * transaction that started before its commit has finished, so positions handed out strictly rise.
 *
 * @remarks Knows nothing about HTTP, SSE framing, heartbeats or how wake-ups travel between processes.
 */
import type { StoredEvent } from "@agg/schema"
import { type Cause, Context, Data, Deferred, Duration, Effect, Fiber, Layer, Queue, type Scope } from "effect"
import { CommitSignal } from "./CommitSignal.ts"
import { EventStore, type EventStoreError } from "./EventStore.ts"

/** Options of `layer`. @category models */
export interface Options {
  /** Events a subscriber may hold undelivered before it is dropped as too slow. Default 1,000. */
  readonly capacity?: number
  /** How often a reader checks the store without a wake-up (a lost notification). Default 2 s. */
  readonly pollInterval?: Duration.Input
  /**
   * Page size of store reads; at most `capacity` (a reader hands a subscriber up to a page at once). Default
   * 500, or a quarter of `capacity` when that is less.
   */
  readonly pageSize?: number
}

/** Where a subscription starts: after `after` in `topic` (an offset), or in all topics (a position). @category models */
export interface SubscribeQuery {
  readonly topic?: string
  readonly after: number
}

/** The subscriber did not take its events fast enough and was dropped. @category errors */
export class TailOverflow extends Data.TaggedError("TailOverflow")<{
  /** The buffer's size, in events. */
  readonly capacity: number
  /** The cursor of the last event it took: resume after it. */
  readonly after: number
}> {}

/** Why a subscription ended. @category errors */
export type TailError = TailOverflow | EventStoreError

/** A live subscription; it ends when the scope it was made in closes. @category models */
export interface Subscription {
  /**
   * The next events in order (at least one), waiting until there are some; fails when the subscription ended
   * (too slow, or its backlog read failed). Not to be called concurrently.
   */
  readonly take: Effect.Effect<ReadonlyArray<StoredEvent>, TailError>
  /**
   * Succeeds once the subscriber has been dropped as too slow (never otherwise): for a consumer that is stuck
   * elsewhere (e.g. on a full socket) and must learn it without taking.
   */
  readonly dropped: Effect.Effect<TailOverflow>
}

/** Figures for metrics and tests. @category models */
export interface TailStats {
  /** Readers running (topics followed, plus one when anyone follows all topics). */
  readonly readers: number
  /** Subscribers that joined a reader and are still served. */
  readonly subscribers: number
}

/** @category services */
export class Tail extends Context.Service<
  Tail,
  {
    /** Subscribe from a cursor, for the lifetime of the scope. */
    readonly subscribe: (query: SubscribeQuery) => Effect.Effect<Subscription, never, Scope.Scope>
    /**
     * New events were committed to these topics: wake their readers and the all-topics reader (`"all"`: wake
     * every reader, for a notification too large to list its topics).
     */
    readonly wake: (topics: ReadonlyArray<string> | "all") => Effect.Effect<void>
    readonly stats: Effect.Effect<TailStats>
  }
>()("@agg/core/Tail") {}

interface Subscriber {
  // Ended (not failed) when dropped: an ended queue still hands out what it holds, then fails with Done.
  readonly queue: Queue.Queue<StoredEvent, Cause.Done>
  /** Set when dropped as too slow. */
  dropped: TailOverflow | undefined
  readonly droppedSignal: Deferred.Deferred<TailOverflow>
  /** The cursor of the last event it has (taken or buffered). */
  last: number
}

interface Reader {
  readonly topic: string | undefined
  /** The cursor of the last event handed out. */
  head: number
  readonly subscribers: Set<Subscriber>
  readonly wakeUp: Queue.Queue<void>
  fiber: Fiber.Fiber<void> | undefined
}

const ALL = "\u0000all"

const positiveInt = (name: string, value: number): number => {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Tail: ${name} must be a positive integer`)
  return value
}

/**
 * The tail over the `EventStore` in context; readers run in the layer's scope.
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (options: Options = {}) {
  const capacity = positiveInt("capacity", options.capacity ?? 1_000)
  const pageSize = positiveInt("pageSize", options.pageSize ?? Math.max(1, Math.min(500, Math.floor(capacity / 4))))
  if (pageSize > capacity) throw new RangeError("Tail: pageSize must be at most capacity")
  const pollInterval = Duration.fromInputUnsafe(options.pollInterval ?? Duration.seconds(2))
  const store = yield* EventStore
  const scope = yield* Effect.scope
  const readers = new Map<string, Reader>()

  const cursorOf = (reader: { readonly topic: string | undefined }, event: StoredEvent): number =>
    reader.topic === undefined ? (event.position ?? 0) : event.offset

  // One synchronous step: hand the page to every subscriber, then move the head.
  const deliver = (reader: Reader, events: ReadonlyArray<StoredEvent>, nextAfter: number) => {
    for (const sub of reader.subscribers) {
      for (const event of events) {
        const cursor = cursorOf(reader, event)
        if (cursor <= sub.last) continue
        if (!Queue.offerUnsafe(sub.queue, event)) {
          reader.subscribers.delete(sub)
          sub.dropped = new TailOverflow({ capacity, after: sub.last })
          Queue.endUnsafe(sub.queue)
          Deferred.doneUnsafe(sub.droppedSignal, Effect.succeed(sub.dropped))
          break
        }
        sub.last = cursor
      }
    }
    reader.head = Math.max(reader.head, nextAfter)
  }

  const catchUp = (reader: Reader): Effect.Effect<void, EventStoreError> =>
    Effect.flatMap(
      store.read(
        reader.topic === undefined
          ? { after: reader.head, limit: pageSize }
          : { topic: reader.topic, after: reader.head, limit: pageSize }
      ),
      (page) => {
        deliver(reader, page.events, page.nextAfter)
        return page.events.length < pageSize ? Effect.void : catchUp(reader)
      }
    )

  // A first read at once: a wake-up sent before the reader existed was not seen by anyone.
  const run = (reader: Reader): Effect.Effect<void> => {
    const pass = catchUp(reader).pipe(
      Effect.catch((error) =>
        Effect.logWarning(`tail of ${reader.topic ?? "all topics"}: read failed, retrying: ${error.message}`)
      )
    )
    return Effect.andThen(
      pass,
      Effect.forever(Effect.andThen(Queue.take(reader.wakeUp).pipe(Effect.timeoutOption(pollInterval)), pass))
    ).pipe(Effect.tapCause((cause) => Effect.logError(`tail of ${reader.topic ?? "all topics"} stopped`, cause)))
  }

  const stop = (key: string, reader: Reader) =>
    Effect.suspend(() => {
      if (reader.subscribers.size > 0 || readers.get(key) !== reader) return Effect.void
      readers.delete(key)
      return reader.fiber === undefined ? Effect.void : Fiber.interrupt(reader.fiber)
    })

  /** Join the topic's reader when the cursor has reached it (making the reader if there is none). */
  const join = (key: string, topic: string | undefined, sub: Subscriber): Effect.Effect<boolean> =>
    Effect.flatMap(Queue.dropping<void>(1), (wakeUp) => {
      // From here to the fork, synchronous: nothing can be handed out between the check and the joining.
      const existing = readers.get(key)
      if (existing !== undefined) {
        if (sub.last < existing.head) return Effect.succeed(false)
        existing.subscribers.add(sub)
        return Effect.succeed(true)
      }
      const reader: Reader = { topic, head: sub.last, subscribers: new Set([sub]), wakeUp, fiber: undefined }
      readers.set(key, reader)
      return Effect.forkIn(run(reader), scope).pipe(
        Effect.map((fiber) => {
          reader.fiber = fiber
          return true
        })
      )
    })

  const subscribe = (query: SubscribeQuery): Effect.Effect<Subscription, never, Scope.Scope> =>
    Effect.gen(function* () {
      const key = query.topic ?? ALL
      const queue = yield* Queue.bounded<StoredEvent, Cause.Done>(capacity)
      const sub: Subscriber = {
        queue,
        last: query.after,
        dropped: undefined,
        droppedSignal: Deferred.makeUnsafe<TailOverflow>()
      }
      let joined = false
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          const reader = readers.get(key)
          if (reader === undefined) return Effect.void
          reader.subscribers.delete(sub)
          return stop(key, reader)
        })
      )
      // Before joining: the subscriber's own pages; a short one is the moment to try joining.
      const backlog: Effect.Effect<ReadonlyArray<StoredEvent>, TailError> = Effect.flatMap(
        // Suspended: each step reads from the cursor as it is then.
        Effect.suspend(() =>
          store.read(
            query.topic === undefined
              ? { after: sub.last, limit: pageSize }
              : { topic: query.topic, after: sub.last, limit: pageSize }
          )
        ),
        (page) => {
          sub.last = page.nextAfter
          const short = page.events.length < pageSize
          const next = short
            ? Effect.map(join(key, query.topic, sub), (ok) => {
                joined = ok
              })
            : Effect.void
          return Effect.flatMap(next, () =>
            page.events.length > 0 ? Effect.succeed(page.events) : joined ? fromQueue : backlog
          )
        }
      )
      const fromQueue = Queue.takeBetween(queue, 1, pageSize).pipe(
        Effect.catch(() => Effect.fail(sub.dropped ?? new TailOverflow({ capacity, after: sub.last })))
      )
      return {
        take: Effect.suspend(() => (joined ? fromQueue : backlog)),
        dropped: Deferred.await(sub.droppedSignal)
      } satisfies Subscription
    })

  const wake = (topics: ReadonlyArray<string> | "all") =>
    Effect.sync(() => {
      if (topics === "all") {
        for (const reader of readers.values()) Queue.offerUnsafe(reader.wakeUp, undefined)
        return
      }
      for (const topic of topics) {
        const reader = readers.get(topic)
        if (reader !== undefined) Queue.offerUnsafe(reader.wakeUp, undefined)
      }
      const all = readers.get(ALL)
      if (all !== undefined) Queue.offerUnsafe(all.wakeUp, undefined)
    })

  const stats = Effect.sync(() => {
    let subscribers = 0
    for (const reader of readers.values()) subscribers += reader.subscribers.size
    return { readers: readers.size, subscribers }
  })

  return Tail.of({ subscribe, wake, stats })
})

/** The tail over the `EventStore` in context. @category layers */
export const layer = (options: Options = {}): Layer.Layer<Tail, never, EventStore> => Layer.effect(Tail, make(options))

/**
 * A `CommitSignal` that wakes the `Tail` in context directly: for a process that commits and serves the tail
 * itself (embedded mode).
 * @category layers
 */
export const localSignal: Layer.Layer<CommitSignal, never, Tail> = Layer.effect(
  CommitSignal,
  Effect.gen(function* () {
    const tail = yield* Tail
    return CommitSignal.of({ notify: tail.wake })
  })
)
