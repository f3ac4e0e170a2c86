/**
 * Whether a Redis keeps what it acknowledged across a crash: AOF on (`appendonly yes`) and fsynced before every
 * reply (`appendfsync always`), read with `CONFIG GET`. A 2xx of the queued API means "in the stream"; without
 * that setting a Redis crash can undo it (and Redis must also run with `noeviction`, which no setting here checks).
 * Managed Redis services often disable CONFIG: then the answer is `Unknown`, with the server's reason.
 *
 * @remarks Reads the settings only; deciding whether to warn or to refuse is the caller's.
 */
import { Effect, Redacted } from "effect"
import { createClient } from "redis"

/** What the server said. @category models */
export type Durability =
  | {
      readonly _tag: "Checked"
      readonly appendonly: string
      readonly appendfsync: string
      /** AOF on and fsynced always: an acknowledged write survives a crash of Redis. */
      readonly durable: boolean
    }
  | { readonly _tag: "Unknown"; readonly reason: string }

const CHECK_TIMEOUT = "5 seconds"

/**
 * Ask the Redis at `url` for its AOF settings, on a connection of its own (closed before it returns). Never fails:
 * a refused CONFIG, an unreachable server or a timeout is `Unknown` with the reason.
 * @category constructors
 */
export const check = (url: string | Redacted.Redacted<string>): Effect.Effect<Durability> =>
  Effect.acquireUseRelease(
    Effect.sync(() =>
      createClient({
        url: Redacted.isRedacted(url) ? Redacted.value(url) : url,
        RESP: 2,
        disableOfflineQueue: true,
        socket: { reconnectStrategy: false }
      }).on("error", () => undefined)
    ),
    (client) =>
      Effect.tryPromise(async () => {
        await client.connect()
        const settings = await client.configGet("append*")
        const appendonly = String(settings.appendonly ?? "")
        const appendfsync = String(settings.appendfsync ?? "")
        return {
          _tag: "Checked",
          appendonly,
          appendfsync,
          durable: appendonly === "yes" && appendfsync === "always"
        } satisfies Durability
      }).pipe(
        Effect.timeoutOrElse({
          duration: CHECK_TIMEOUT,
          orElse: () => Effect.fail(new Error(`no answer within ${CHECK_TIMEOUT}`))
        }),
        Effect.catch((error) =>
          Effect.succeed<Durability>({
            _tag: "Unknown",
            reason: error instanceof Error ? error.message : String(error)
          })
        )
      ),
    (client) => Effect.sync(() => client.destroy())
  )
