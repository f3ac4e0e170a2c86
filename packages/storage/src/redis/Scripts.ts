/**
 * The Lua scripts of `RedisEventLog`, one file per command in `scripts/` (`<command>-<numKeys>.lua`, KEYS/ARGV
 * documented in its header), defined once for node-redis: a client created with them in its `scripts` option
 * sends EVALSHA and, when the server does not know the script yet (NOSCRIPT: first use, a restart, SCRIPT
 * FLUSH), EVAL with the source, which also caches it.
 *
 * The files are read through this package's own export `@agg/storage/redis/scripts/*.lua`, not next to this
 * module: apps bundle this module's source into their own dist file, where a path relative to the module would
 * point into the app. The package's files are at the same place in every case: a source run, this package's
 * dist, an app bundle (resolved from the app's node_modules).
 *
 * @remarks Lua only where atomicity across keys needs it; anything else stays in TypeScript.
 */
import { readFileSync } from "node:fs"
import { type CommandParser, defineScript } from "redis"
import type { PartitionKeys } from "./StreamKeys.ts"

const source = (file: string): string =>
  readFileSync(new URL(import.meta.resolve(`@agg/storage/redis/scripts/${file}`)), "utf8")

/** One claimed entry: id, flat field list, delivery count (this delivery included). */
export type ClaimedEntry = readonly [id: string, fields: ReadonlyArray<string>, deliveries: number]

/**
 * XACK and, if the entry was pending, copy it to the dead-letter stream and count it, dropping the oldest beyond
 * `cap` (counted as discarded). Replies 1 when it was dead-lettered, 0 when it was not pending.
 */
const deadLetterScript = {
  SCRIPT: source("deadLetter-4.lua"),
  NUMBER_OF_KEYS: 4,
  parseCommand: (
    parser: CommandParser,
    keys: PartitionKeys,
    group: string,
    id: string,
    reason: string,
    deliveries: number,
    cap: number
  ) => {
    parser.pushKeys([keys.stream, keys.deadLetter, keys.deadLettered, keys.discarded])
    parser.push(group, id, reason, String(deliveries), String(cap))
  },
  transformReply: (reply: unknown): number => Number(reply)
}

/** What `redrive-3.lua` replies: the count, the missing ids, the skipped ids. */
export type RedriveReply = readonly [count: number, missing: ReadonlyArray<string>, skipped: ReadonlyArray<string>]

/** Append dead letters back to the stream and remove them from the dead-letter stream (see `redrive-3.lua`). */
const redriveScript = {
  SCRIPT: source("redrive-3.lua"),
  NUMBER_OF_KEYS: 3,
  parseCommand: (parser: CommandParser, keys: PartitionKeys, ids: ReadonlyArray<string>) => {
    parser.pushKeys([keys.stream, keys.deadLetter, keys.deadLettered])
    parser.push(...ids)
  },
  transformReply: (reply: unknown): RedriveReply => {
    const [count, missing, skipped] = reply as [number, Array<string>, Array<string>]
    return [Number(count), missing, skipped]
  }
}

/** What `discard-3.lua` replies: the count and the missing ids. */
export type DiscardReply = readonly [count: number, missing: ReadonlyArray<string>]

/** Delete dead letters for good, given ones or `"all"`, counting them as discarded (see `discard-3.lua`). */
const discardScript = {
  SCRIPT: source("discard-3.lua"),
  NUMBER_OF_KEYS: 3,
  parseCommand: (parser: CommandParser, keys: PartitionKeys, ids: ReadonlyArray<string> | "all") => {
    parser.pushKeys([keys.deadLetter, keys.deadLettered, keys.discarded])
    if (ids === "all") parser.push("all")
    else parser.push("ids", ...ids)
  },
  transformReply: (reply: unknown): DiscardReply => {
    const [count, missing] = reply as [number, Array<string>]
    return [Number(count), missing]
  }
}

/** Claim given entries of a dead consumer (see `claim-3.lua`); deleted ones are dead-lettered in the same step. */
const claimScript = {
  SCRIPT: source("claim-3.lua"),
  NUMBER_OF_KEYS: 3,
  parseCommand: (
    parser: CommandParser,
    keys: PartitionKeys,
    group: string,
    consumer: string,
    from: string,
    minIdleMs: number,
    ids: ReadonlyArray<string>
  ) => {
    parser.pushKeys([keys.stream, keys.deadLetter, keys.deadLettered])
    parser.push(group, consumer, from, String(minIdleMs), ...ids)
  },
  transformReply: (reply: unknown): ReadonlyArray<ClaimedEntry> => reply as Array<ClaimedEntry>
}

/** Remove a consumer from the group if nothing is pending for it; replies 1 when removed. */
const removeConsumerScript = {
  SCRIPT: source("removeConsumer-1.lua"),
  NUMBER_OF_KEYS: 1,
  parseCommand: (parser: CommandParser, keys: PartitionKeys, group: string, consumer: string) => {
    parser.pushKeys([keys.stream])
    parser.push(group, consumer)
  },
  transformReply: (reply: unknown): number => Number(reply)
}

// `defineScript` adds the SHA1 (EVALSHA); the type is spelled out because its own is not exported by node-redis.
type Defined<S> = S & { readonly SHA1: string }

/**
 * The `scripts` option of the log's clients: `client.deadLetter(...)`, `client.claim(...)`,
 * `client.removeConsumer(...)`, `client.redrive(...)`, `client.discard(...)`.
 * @category constructors
 */
export const scripts: {
  readonly redrive: Defined<typeof redriveScript>
  readonly discard: Defined<typeof discardScript>
  readonly deadLetter: Defined<typeof deadLetterScript>
  readonly claim: Defined<typeof claimScript>
  readonly removeConsumer: Defined<typeof removeConsumerScript>
} = {
  redrive: defineScript(redriveScript),
  discard: defineScript(discardScript),
  deadLetter: defineScript(deadLetterScript),
  claim: defineScript(claimScript),
  removeConsumer: defineScript(removeConsumerScript)
}
