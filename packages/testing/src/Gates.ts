/**
 * A store whose commits hang at a gate, for tests of what others do meanwhile (a live but slow consumer keeps its
 * entries; nothing else commits them): every `commit` first signals that it started, then waits for the gate,
 * then commits through the wrapped store.
 *
 * Does not fail or delay anything else: reads and stats go straight to the wrapped store.
 */
import { EventStore as Store } from "@agg/core"
import { Deferred, Effect } from "effect"

/** A gated store and its controls. */
export interface GatedStore {
  /** The wrapped store, its `commit` held at the gate. */
  readonly store: Store.EventStore["Service"]
  /** Completes once a commit has started (and is waiting). */
  readonly started: Effect.Effect<void>
  /** Open the gate: waiting and later commits go through. */
  readonly open: Effect.Effect<void>
}

/** Wrap `store` so its commits wait at a gate until `open`. */
export const gateCommits = (store: Store.EventStore["Service"]): Effect.Effect<GatedStore> =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const gate = yield* Deferred.make<void>()
    return {
      store: Store.EventStore.of({
        ...store,
        commit: (batch) =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Deferred.await(gate)),
            Effect.andThen(store.commit(batch))
          )
      }),
      started: Deferred.await(started),
      open: Effect.asVoid(Deferred.succeed(gate, undefined))
    }
  })
