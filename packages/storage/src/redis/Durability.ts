/**
 * Whether a Redis keeps what it acknowledged across a crash: AOF on (`appendonly yes`) and fsynced before every
 * reply (`appendfsync always`), read with `CONFIG GET`. A 2xx of the queued API means "in the stream"; without
 * that setting a Redis crash can undo it (and Redis must also run with `noeviction`, which no setting here checks).
 * Managed Redis services often disable CONFIG: then the answer is `Unknown`, with the server's reason. On a Redis
 * Cluster the settings shown are those of a master that is not durable, if any.
 *
 * @remarks Reads the settings only; deciding whether to warn or to refuse is the caller's.
 */
import { Effect, Redacted } from "effect"
import type { RedisClusterType } from "redis"
import { createConnection, type RedisTarget } from "./RedisEventLog.ts"

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

const settingsOf = (settings: Record<string, unknown>) => {
  const appendonly = String(settings.appendonly ?? "")
  const appendfsync = String(settings.appendfsync ?? "")
  return { appendonly, appendfsync, durable: appendonly === "yes" && appendfsync === "always" }
}

/**
 * Ask the Redis at `target` (a URL, or a `RedisTarget`; on a Redis Cluster every master, which must all be
 * durable) for its AOF settings, on a connection of its own (closed before it returns). Never fails: a refused
 * CONFIG, an unreachable server or a timeout is `Unknown` with the reason.
 * @category constructors
 */
export const check = (target: string | Redacted.Redacted<string> | RedisTarget): Effect.Effect<Durability> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const spec = typeof target === "string" || Redacted.isRedacted(target) ? { url: target } : target
      return { client: createConnection(spec, "agg:durability-check"), cluster: (spec.clusterNodes?.length ?? 0) > 0 }
    }),
    ({ client, cluster }) =>
      Effect.tryPromise(async () => {
        await client.connect()
        if (!cluster) return { _tag: "Checked", ...settingsOf(await client.configGet("append*")) } satisfies Durability
        const nodes = client as unknown as RedisClusterType
        const each = await Promise.all(
          nodes.masters.map(async (master) => settingsOf(await (await nodes.nodeClient(master)).configGet("append*")))
        )
        const weak = each.find((s) => !s.durable) ?? each[0]!
        return { _tag: "Checked", ...weak, durable: each.every((s) => s.durable) } satisfies Durability
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
    ({ client }) => Effect.sync(() => client.destroy())
  )
