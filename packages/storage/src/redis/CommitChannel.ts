/**
 * Commit notifications between processes over Redis pub/sub, on the deployment's channel `{S}:commits`
 * (`StreamKeys.commits`): a worker publishes the topics of each commit after it returned (`publisher`, a core
 * `CommitSignal`), and the api wakes its live tails when one arrives (`subscriber`).
 *
 * Fire-and-forget on purpose: pub/sub keeps nothing, and a notification lost to a disconnect is covered by the
 * tails' own slow check of the store. A publish never waits and never fails the commit it follows.
 *
 * @remarks Carries topic names only, never events; a commit into more than `MAX_TOPICS` topics is announced as
 * `"*"` (wake every tail).
 */
import { CommitSignal, type EventLog, Tail } from "@agg/core"
import { Effect, Exit, Layer, Schedule, Scope } from "effect"
import { toEventLogError } from "./RedisError.ts"
import { type Client, connectClient, createConnection, type RedisTarget } from "./RedisEventLog.ts"
import * as StreamKeys from "./StreamKeys.ts"

/** Most topics listed in one message; more are announced as `"*"`. @category models */
export const MAX_TOPICS = 100

/**
 * Where the channel is: the log's Redis (on a Redis Cluster, a message published on any node reaches the
 * subscribers on every node).
 * @category models
 */
export interface Config extends RedisTarget {
  readonly streamKey: string
}

/** The message for the topics of one commit. @category constructors */
export const encode = (topics: ReadonlyArray<string>): string =>
  topics.length > MAX_TOPICS ? "*" : JSON.stringify(topics)

/** The topics of a message, `"all"` for `"*"`, or undefined for one that is neither (ignored). @category constructors */
export const decode = (message: string): ReadonlyArray<string> | "all" | undefined => {
  if (message === "*") return "all"
  try {
    const parsed: unknown = JSON.parse(message)
    return Array.isArray(parsed) && parsed.every((t) => typeof t === "string") ? parsed : undefined
  } catch {
    return undefined
  }
}

/**
 * A connection made in the background, for the layer's lifetime: tried at once and every 2 s until it succeeds
 * (each failure logged), then `ready` runs on it; closed with the layer. Never fails or delays the start: while
 * Redis cannot be reached, the tails' slow check serves.
 */
const connectInBackground = (
  config: Config,
  name: string,
  what: string,
  ready: (client: Client) => Effect.Effect<void, EventLog.EventLogError>
) =>
  Effect.gen(function* () {
    const outer = yield* Effect.scope
    // One attempt in a scope of its own: closed at once when it fails, with the layer once it succeeded.
    const attempt = Effect.gen(function* () {
      const scope = yield* Scope.make()
      yield* Effect.gen(function* () {
        const client = yield* connectClient(() => createConnection(config, name), "destroy")
        yield* ready(client)
      }).pipe(
        Scope.provide(scope),
        Effect.onError(() => Scope.close(scope, Exit.void)),
        Effect.tap(() => Scope.addFinalizer(outer, Scope.close(scope, Exit.void)))
      )
    })
    yield* Effect.forkScoped(
      attempt.pipe(
        Effect.tapError((error) =>
          Effect.logWarning(`commit notifications: cannot ${what}, retrying: ${error.message}`)
        ),
        Effect.retry(Schedule.spaced("2 seconds"))
      )
    )
  })

/**
 * Publish the topics of each commit that stored new events on the deployment's commit channel. Its own connection,
 * made in the background (see `connectInBackground`); until it is up, and whenever Redis refuses, a notification
 * is dropped: the tails' slow check covers it.
 * @category layers
 */
export const publisher = (config: Config): Layer.Layer<CommitSignal.CommitSignal> =>
  Layer.effect(
    CommitSignal.CommitSignal,
    Effect.gen(function* () {
      const keys = StreamKeys.make(config.streamKey)
      let connected: Client | undefined
      yield* connectInBackground(config, `${keys.streamKey}:commits`, "connect", (client) =>
        Effect.sync(() => {
          connected = client
        })
      )
      return CommitSignal.CommitSignal.of({
        notify: (topics) =>
          Effect.sync(() => {
            // Refused at once while disconnected (no offline queue).
            connected?.publish(keys.commits, encode(topics)).catch(() => undefined)
          })
      })
    })
  )

/**
 * Wake the `Tail` in context on every message of the channel, for the layer's lifetime. Its own connection, in
 * subscriber mode, made in the background (see `connectInBackground`); node-redis subscribes again after a
 * reconnect.
 * @category layers
 */
export const subscriber = (config: Config): Layer.Layer<never, never, Tail.Tail> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const keys = StreamKeys.make(config.streamKey)
      const tail = yield* Tail.Tail
      yield* connectInBackground(config, `${keys.streamKey}:commits:sub`, "subscribe", (client) =>
        Effect.tryPromise({
          try: () =>
            client.subscribe(keys.commits, (message: string) => {
              const topics = decode(message)
              if (topics !== undefined) Effect.runSync(tail.wake(topics))
            }),
          catch: (cause) => toEventLogError("subscribe", cause)
        })
      )
    })
  )
