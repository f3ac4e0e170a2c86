/**
 * Pure: how the log is split into partitions and who reads which. Every log implementation (memory, Redis, a
 * Redis Cluster) and every service that needs to know where an event lives uses these functions, so they must give
 * the same answer everywhere and forever: `partitionOf` decides where data is stored, and changing it would strand
 * the entries already written.
 *
 * - An event lives in partition `partitionOf(topic, n)`: the topic's FNV-1a hash modulo the partition count. All
 *   events of one topic share a partition, which is what keeps them in order.
 * - Consumers split the partitions among themselves by `share`: each live consumer (one holding a heartbeat mark)
 *   owns a fixed slice computed from the sorted set of live names, so every consumer that sees the same live set
 *   agrees on the split without talking to the others. A consumer that is not in the live set (it never sent a
 *   heartbeat: a test, an old version) owns everything; ownership only spreads the work, correctness never
 *   depends on it, since a dead owner's entries are reclaimed by whoever owns its partitions next.
 * - Each partition has its own dead-letter store. A dead letter's public id is its id in that store, with the
 *   partition appended for partitions other than 0 (`deadLetterId`, `parseDeadLetterId`), so a log with one
 *   partition keeps plain stream ids. `compareDeadLetterIds` orders them across partitions for paging.
 */
import { DEAD_LETTER_ID } from "@agg/schema"

/**
 * The most partitions a log may have. A bound keeps shares and per-partition loops small and leaves room in the
 * dead-letter id suffix (at most four digits).
 * @category models
 */
export const maxPartitions = 1024

/**
 * Why `n` is not a valid partition count (an integer from 1 to `maxPartitions`), or `undefined` when it is. The
 * message reads after the setting's name, e.g. `PARTITIONS ${message}`.
 * @category constructors
 */
export const validatePartitions = (n: number): string | undefined =>
  Number.isInteger(n) && n >= 1 && n <= maxPartitions
    ? undefined
    : `must be an integer from 1 to ${maxPartitions}, got ${n}`

const checkPartitions = (partitions: number): void => {
  const problem = validatePartitions(partitions)
  if (problem !== undefined) throw new RangeError(`partitions ${problem}`)
}

const encoder = new TextEncoder()

/**
 * The 32-bit FNV-1a hash of `text`'s UTF-8 bytes, as an unsigned integer. Hashing bytes rather than UTF-16 code
 * units makes the result the one any other language computes over the same topic; a lone surrogate (not valid
 * UTF-8) is encoded as U+FFFD, as `TextEncoder` does.
 * @example
 * fnv1a32("") // 0x811c9dc5
 * fnv1a32("a") // 0xe40c292c
 * fnv1a32("foobar") // 0xbf9cf968
 * @category constructors
 */
export const fnv1a32 = (text: string): number => {
  let hash = 0x811c9dc5 // offset basis 2166136261
  for (const byte of encoder.encode(text)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) // prime 16777619, modulo 2^32
  }
  return hash >>> 0
}

/**
 * The partition (0 to `partitions - 1`) that events of `topic` are appended to.
 * @throws RangeError when `partitions` is not an integer from 1 to `maxPartitions`.
 * @category constructors
 */
export const partitionOf = (topic: string, partitions: number): number => {
  checkPartitions(partitions)
  return fnv1a32(topic) % partitions
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The partitions `consumer` owns, ascending, given the names of the live consumers (duplicates and order do not
 * matter). The live names are sorted (plain string order, the same in every language that compares code units);
 * the consumer of rank `r` among `n` owns every partition `i` with `i % n === r`, so the split is even and each
 * partition has exactly one owner. With more live consumers than partitions, the last ones own nothing.
 *
 * A consumer that is not live owns every partition (it reads and reclaims everything, as before partitioning
 * existed). With a single partition every consumer owns it, live or not: there is nothing to split, and nobody
 * should sit idle.
 * @throws RangeError when `partitions` is not an integer from 1 to `maxPartitions`.
 * @category constructors
 */
export const share = (consumer: string, live: Iterable<string>, partitions: number): ReadonlyArray<number> => {
  checkPartitions(partitions)
  const names = [...new Set(live)].sort(byName)
  const rank = names.indexOf(consumer)
  if (rank < 0) return Array.from({ length: partitions }, (_, i) => i)
  if (partitions === 1) return [0]
  const owned: Array<number> = []
  for (let i = rank; i < partitions; i += names.length) owned.push(i)
  return owned
}

/**
 * Where a dead letter is: its partition and its id in that partition's dead-letter store (`<ms>-<seq>`).
 * @category models
 */
export interface DeadLetterAddress {
  readonly partition: number
  readonly id: string
}

/**
 * The public id of the dead letter `id` (`<ms>-<seq>`) of `partition` (0 to `maxPartitions - 1`): `id` itself in
 * partition 0, `<ms>-<seq>-<partition>` in the others. There is exactly one spelling per dead letter.
 * @category constructors
 */
export const deadLetterId = (partition: number, id: string): string => (partition === 0 ? id : `${id}-${partition}`)

/**
 * The address a public dead-letter id names, or `undefined` when `text` is not one: not `<ms>-<seq>` or
 * `<ms>-<seq>-<partition>` (partition 1 to `maxPartitions - 1` without leading zeros; `-0` is not a spelling of
 * partition 0). Whether the log has that many partitions is for the caller to check.
 * @category constructors
 */
export const parseDeadLetterId = (text: string): DeadLetterAddress | undefined => {
  const match = DEAD_LETTER_ID.exec(text)
  if (match === null) return undefined
  const partition = match[2] === undefined ? 0 : Number(match[2])
  return partition < maxPartitions ? { partition, id: match[1]! } : undefined
}

const addressOf = (text: string) => {
  const address = parseDeadLetterId(text)
  if (address === undefined)
    throw new RangeError(`not a dead-letter id <ms>-<seq> or <ms>-<seq>-<partition>: ${JSON.stringify(text)}`)
  const [ms, seq] = address.id.split("-").map(BigInt) as [bigint, bigint]
  return { ms, seq, partition: address.partition }
}

/**
 * Order two public dead-letter ids (negative, 0, positive): by `<ms>`, then `<seq>` (as numbers, never as text,
 * where `…-10` would sort before `…-9`), then partition. This is the order in which the stores of all partitions
 * are paged through together.
 * @throws RangeError naming the id that is not a dead-letter id.
 * @category constructors
 */
export const compareDeadLetterIds = (a: string, b: string): number => {
  const x = addressOf(a)
  const y = addressOf(b)
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1
  if (x.seq !== y.seq) return x.seq < y.seq ? -1 : 1
  return x.partition - y.partition
}
