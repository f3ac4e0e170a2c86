/**
 * Port: "events were committed to these topics", told by whoever commits, after the commit, to whoever follows
 * the log (`Tail`). A wake-up only: it carries no events and may be lost (followers also check on a slow timer),
 * so it can travel over a fire-and-forget channel (in-process, or Redis pub/sub between processes).
 *
 * `notifying` decorates an `EventStore` so that every commit that stored new events notifies once it has
 * returned, that is after the transaction committed, never inside it: a database notification sent inside the
 * transaction would serialize every committing transaction at commit time.
 *
 * @remarks Does not read or deliver events, and never fails or delays a commit: a failed notification is the
 * signal implementation's to log and drop.
 */
import { Context, Effect, Layer } from "effect"
import { EventStore } from "./EventStore.ts"

/** @category services */
export class CommitSignal extends Context.Service<
  CommitSignal,
  {
    /** Tell followers that these topics (distinct, non-empty) have new events. Never fails. */
    readonly notify: (topics: ReadonlyArray<string>) => Effect.Effect<void>
  }
>()("@agg/core/CommitSignal") {}

/**
 * The `EventStore` in context, with each commit that stored at least one new event followed by one `notify`
 * of the topics it stored into.
 * @category layers
 */
export const notifying: Layer.Layer<EventStore, never, EventStore | CommitSignal> = Layer.effect(
  EventStore,
  Effect.gen(function* () {
    const store = yield* EventStore
    const signal = yield* CommitSignal
    return EventStore.of({
      ...store,
      commit: (batch) =>
        store.commit(batch).pipe(
          Effect.tap((outcomes) => {
            const topics = new Set<string>()
            outcomes.forEach((outcome, i) => {
              if (outcome._tag === "New") topics.add(batch[i]!.event.topic)
            })
            return topics.size === 0 ? Effect.void : signal.notify([...topics])
          })
        )
    })
  })
)
