/**
 * Liveness marks in Redis: one key per member (a consumer today; later the owners of partition leases) that
 * expires by itself. A member that runs refreshes its mark well inside the time to live; a member that was killed
 * stops refreshing, and within one ttl its mark is gone, so "alive" needs no clock agreement between processes and
 * no cleanup by anyone: Redis's own expiry decides. The key of a member comes from `StreamKeys` (the deployment's
 * tag `{S}`, so all marks of a deployment live on one Redis Cluster slot and one MGET reads them).
 *
 * @remarks Only marks, reads and removes them. Deciding what a missing mark means (reclaiming a dead consumer's
 * entries, after a grace period when Redis itself restarted and every mark vanished at once) is the caller's job.
 */
import { Duration } from "effect"

/** The commands this module sends, as node-redis clients have them. */
export interface LivenessClient {
  readonly set: (
    key: string,
    value: string,
    options: { readonly expiration: { readonly type: "PX"; readonly value: number } }
  ) => Promise<unknown>
  readonly mGet: (keys: Array<string>) => Promise<Array<string | null>>
  readonly del: (keys: Array<string>) => Promise<number>
}

/** @category models */
export interface Liveness {
  /** Mark `name` alive for `ttl` from now (at least 1 ms), replacing its previous mark. */
  readonly beat: (name: string, ttl: Duration.Duration) => Promise<void>
  /** Which of `names` have a live mark now. */
  readonly alive: (names: ReadonlyArray<string>) => Promise<ReadonlySet<string>>
  /** Withdraw the marks of `names` (a member that left for good). */
  readonly remove: (names: ReadonlyArray<string>) => Promise<void>
}

/**
 * Liveness on `client`, the key of each member given by `keyOf` (e.g. `StreamKeys.consumer`).
 * @category constructors
 */
export const make = (client: LivenessClient, keyOf: (name: string) => string): Liveness => ({
  beat: async (name, ttl) => {
    const ms = Math.max(1, Math.ceil(Duration.toMillis(ttl)))
    await client.set(keyOf(name), String(ms), { expiration: { type: "PX", value: ms } })
  },
  alive: async (names) => {
    if (names.length === 0) return new Set()
    const marks = await client.mGet(names.map(keyOf))
    return new Set(names.filter((_, i) => marks[i] !== null && marks[i] !== undefined))
  },
  remove: async (names) => {
    if (names.length > 0) await client.del(names.map(keyOf))
  }
})
