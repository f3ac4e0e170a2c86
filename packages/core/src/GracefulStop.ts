/**
 * Graceful stop of a consumer process: on SIGTERM stop reading, commit and ack what it holds, then end. Used by the
 * worker and by the inbox's `runInbox` (@agg/storage).
 *
 * Interrupting the consumer at an arbitrary point is not enough: a broker may assign entries to this consumer the
 * moment it replies to a read (XREADGROUP and the reclaim's claim do), and a read whose result is thrown away by
 * an interrupt leaves those entries pending for a consumer that is gone, until another consumer's reclaim pass
 * takes them over. So the stop is a drain, done before the consumer is interrupted:
 *
 * 1. the `EventLog` seen by the consumer is wrapped (`layer`): it tracks the entries it handed out that are not yet
 *    acknowledged or dead-lettered, and runs every started read or reclaim to completion (uninterruptibly; a read
 *    waits at most its block time);
 * 2. `runGracefully` runs the consumer; when interrupted (SIGTERM/SIGINT via `runMain`) it first closes the gate
 *    (further reads return nothing, further reclaims take nothing), waits until the reads in flight have returned
 *    and every entry handed out is acknowledged or dead-lettered, and only then interrupts the consumer, which is
 *    by then idle.
 *
 * If the store is down the entries cannot be committed: after the timeout the consumer is interrupted anyway and
 * they stay pending for the other consumers (nothing is lost; reclaim covers it).
 *
 * @remarks Changes nothing else: appends and stats pass through untouched, and no entry is ever acked here.
 */

import { Context, Deferred, Duration, Effect, Fiber, Layer, Option } from "effect"
import type * as Consumer from "./Consumer.ts"
import * as EventLog from "./EventLog.ts"

/** Closes the gate and waits for the entries in hand to be settled. @category services */
export class LogDrain extends Context.Service<
  LogDrain,
  {
    /**
     * Stop handing out entries, then wait up to `timeout` until no read is in flight and every entry handed out
     * was acknowledged or dead-lettered. `true` when drained in time.
     */
    readonly drain: (timeout: Duration.Duration) => Effect.Effect<boolean>
    /** Entries handed out and not yet acknowledged or dead-lettered. */
    readonly held: Effect.Effect<number>
  }
>()("@agg/core/LogDrain") {}

/** Wrap the `EventLog` in context with the gate and the bookkeeping; provides `LogDrain` beside it. @category layers */
export const layer: Layer.Layer<EventLog.EventLog | LogDrain, never, EventLog.EventLog> = Layer.effectContext(
  Effect.gen(function* () {
    const log = yield* EventLog.EventLog
    let stopping = false
    let inFlight = 0
    const held = new Set<string>()
    let drained: Deferred.Deferred<void> | undefined
    const settle = () => {
      if (stopping && inFlight === 0 && held.size === 0 && drained !== undefined)
        Deferred.doneUnsafe(drained, Effect.void)
    }

    // The gate check and the in-flight count happen in one step, inside the uninterruptible region, so a read
    // either starts before the gate closes (and is waited for) or never starts. A started read always completes,
    // and its entries are recorded as held before anyone can interrupt.
    const gate = (
      operation: Effect.Effect<ReadonlyArray<EventLog.LogEntry>, EventLog.EventLogError>,
      whenStopping: Effect.Effect<ReadonlyArray<EventLog.LogEntry>>
    ) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          if (stopping) return restore(whenStopping)
          inFlight++
          return operation.pipe(
            Effect.tap((entries) =>
              Effect.sync(() => {
                for (const entry of entries) held.add(EventLog.refKey(entry))
              })
            ),
            Effect.ensuring(
              Effect.sync(() => {
                inFlight--
                settle()
              })
            )
          )
        })
      )

    const released = (refs: ReadonlyArray<EventLog.EntryRef>) =>
      Effect.sync(() => {
        for (const ref of refs) held.delete(EventLog.refKey(ref))
        settle()
      })

    const gated = EventLog.EventLog.of({
      ...log,
      // Once stopping, a read finds nothing after its usual wait (so the consumer's loop does not spin).
      read: (consumer, options) => gate(log.read(consumer, options), Effect.sleep(options.block).pipe(Effect.as([]))),
      reclaim: (consumer, options) => gate(log.reclaim(consumer, options), Effect.succeed([])),
      ack: (refs) => log.ack(refs).pipe(Effect.tap(() => released(refs))),
      deadLetter: (entry, reason) => log.deadLetter(entry, reason).pipe(Effect.tap(() => released([entry])))
    })

    const drain = (timeout: Duration.Duration) =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        drained = done
        stopping = true
        settle()
        return Option.isSome(yield* Deferred.await(done).pipe(Effect.timeoutOption(timeout)))
      })

    return Context.make(EventLog.EventLog, gated).pipe(
      Context.add(LogDrain, LogDrain.of({ drain, held: Effect.sync(() => held.size) }))
    )
  })
)

/**
 * Run the consumer until it fails or this fiber is interrupted; on interruption, drain (up to `timeout`) before
 * interrupting the consumer. Logs whether the stop was clean.
 * @category constructors
 */
export const runGracefully = (
  consumer: Consumer.Consumer,
  timeout: Duration.Duration
): Effect.Effect<never, EventLog.EventLogError, LogDrain> =>
  Effect.gen(function* () {
    const { drain, held } = yield* LogDrain
    const running = yield* Effect.forkDetach(consumer.run)
    return yield* Fiber.join(running).pipe(
      Effect.onInterrupt(() =>
        Effect.gen(function* () {
          yield* Effect.logInfo("stopping: finishing the entries in hand")
          if (!(yield* drain(timeout))) {
            yield* Effect.logWarning(
              `stop timed out after ${Duration.format(timeout)}: ${yield* held} entries stay pending for other workers`
            )
          }
          yield* Fiber.interrupt(running)
        })
      )
    )
  })
