/**
 * Liveness marks in Redis: one key per member (a consumer of the log) that expires by itself, plus the set of
 * the members' names, so the live members can be listed. A member that runs refreshes its mark well inside the
 * time to live; a member that was killed stops refreshing, and within one ttl its mark is gone, so "alive" needs
 * no clock agreement between processes and no cleanup by anyone: Redis's own expiry decides. The keys come from
 * `StreamKeys` (the deployment's tag `{S}`), so marks and set live on one Redis Cluster slot: one MULTI writes a
 * mark and its name, one MGET reads the marks.
 *
 * The log's partition ownership is derived from `live()`: every member computes the same shares from the same
 * sorted list of live names (see `Partitioning.share` in @agg/core), so there is no lease to hand over and no
 * coordinator: a member whose mark expired simply stops appearing in everyone's list.
 *
 * @remarks Only marks, lists and removes. Deciding what a missing mark means (reclaiming a dead consumer's
 * entries, after a grace period when Redis itself restarted and every mark vanished at once) is the caller's job.
 */
import { Duration } from "effect"

/** The commands this module sends, as node-redis clients have them. */
export interface LivenessClient {
  readonly multi: () => {
    set: (
      key: string,
      value: string,
      options: { readonly expiration: { readonly type: "PX"; readonly value: number } }
    ) => unknown
    sAdd: (key: string, members: string) => unknown
    exec: () => Promise<unknown>
  }
  readonly mGet: (keys: Array<string>) => Promise<Array<string | null>>
  readonly sMembers: (key: string) => Promise<Array<string>>
  readonly sRem: (key: string, members: Array<string>) => Promise<number>
  readonly del: (keys: Array<string>) => Promise<number>
}

/** @category models */
export interface Liveness {
  /** Mark `name` alive for `ttl` from now (at least 1 ms), replacing its previous mark, and list it as a member. */
  readonly beat: (name: string, ttl: Duration.Duration) => Promise<void>
  /** Which of `names` have a live mark now. */
  readonly alive: (names: ReadonlyArray<string>) => Promise<ReadonlySet<string>>
  /**
   * Every member with a live mark now, sorted. Members whose mark has expired are taken off the list on the way
   * (a member that was only late adds itself back with its next `beat`).
   */
  readonly live: () => Promise<ReadonlyArray<string>>
  /** Withdraw the marks of `names` (members that left for good). */
  readonly remove: (names: ReadonlyArray<string>) => Promise<void>
}

/**
 * Liveness on `client`: the mark of each member at `keyOf(name)` (e.g. `StreamKeys.consumer`), the names in the
 * set `members` (e.g. `StreamKeys.consumers`).
 * @category constructors
 */
export const make = (client: LivenessClient, keyOf: (name: string) => string, members: string): Liveness => {
  const alive = async (names: ReadonlyArray<string>): Promise<ReadonlySet<string>> => {
    if (names.length === 0) return new Set()
    const marks = await client.mGet(names.map(keyOf))
    return new Set(names.filter((_, i) => marks[i] !== null && marks[i] !== undefined))
  }
  return {
    beat: async (name, ttl) => {
      const ms = Math.max(1, Math.ceil(Duration.toMillis(ttl)))
      const multi = client.multi()
      multi.set(keyOf(name), String(ms), { expiration: { type: "PX", value: ms } })
      multi.sAdd(members, name)
      await multi.exec()
    },
    alive,
    live: async () => {
      const names = await client.sMembers(members)
      const marked = await alive(names)
      const expired = names.filter((name) => !marked.has(name))
      if (expired.length > 0) await client.sRem(members, expired)
      return [...marked].sort()
    },
    remove: async (names) => {
      if (names.length === 0) return
      await client.del(names.map(keyOf))
      await client.sRem(members, [...names])
    }
  }
}
