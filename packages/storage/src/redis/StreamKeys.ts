/**
 * The one rule for `STREAM_KEY` and the one place that builds Redis key names from it, so two deployments with
 * different keys can share one Redis (or one Redis Cluster) without ever touching each other's data.
 *
 * Layout. Every key of partition `i` carries the hash tag `{<STREAM_KEY>:p<i>}` followed by `:` and a suffix:
 * `{S:p0}:stream`, `{S:p0}:received`, `{S:p0}:dlq`, `{S:p0}:dlq:count`, `{S:p0}:dlq:discarded`. Redis Cluster
 * hashes only the tag, so all keys of a partition live on one slot and one MULTI or script still touches them
 * atomically, while different partitions spread over the cluster. Keys of the whole deployment (the consumers'
 * heartbeats `{S}:consumer:<name>`, the set of their names `{S}:consumers`, the recorded partition count
 * `{S}:partitions`) use the tag `{<STREAM_KEY>}` and suffixes that are never partition suffixes, so they share
 * one slot too and one MULTI or MGET covers them. A valid `STREAM_KEY` holds no brace, so a key's tag ends at its
 * first `}` and names exactly one deployment and partition: no two valid keys, or partitions, ever share a key
 * (the `a` / `a:received` clash of the old layout cannot happen). The consumer group is a plain name (groups
 * live inside the stream, they are not keys). See docs/design.md, "Redis key layout". Another group reading the
 * same stream (a service's inbox) has dead letters and consumer marks of its own, `{S:p0}:g<n>:<group>:dlq…` and
 * `{S}:g<n>:<group>:consumer:<name>` (`n` the group name's length), so its counts never mix with the workers'.
 *
 * The layout before hash tags (stream = `STREAM_KEY` itself, `S:received`, `S:dlq`, `S:dlq:count`) is kept as
 * `legacy`, only so that the log can refuse to start beside data it would silently ignore (docs/operations.md,
 * "Upgrading from the old Redis key layout").
 *
 * @remarks Names only; creates and reads nothing.
 */

/** Longest `STREAM_KEY`. @category models */
export const MAX_LENGTH = 200

// No whitespace, no control characters, no braces (they delimit the hash tag).
const FORBIDDEN = /[\s\p{Cc}{}]/u
// The consumer group is a name inside the stream, not a key: braces are harmless there.
const VALID_GROUP = /^[^\s\p{Cc}]{1,255}$/u

/** The keys of one partition of the log. @category models */
export interface PartitionKeys {
  /** Partition number, from 0. */
  readonly index: number
  /** The stream of events: `{S:p<i>}:stream`. This is `LogEntry.stream` of the entries read from it. */
  readonly stream: string
  /** Counter of events ever appended to the partition: `{S:p<i>}:received`. */
  readonly received: string
  /** The dead-letter stream: `{S:p<i>}:dlq`. */
  readonly deadLetter: string
  /** Counter of dead-lettered entries: `{S:p<i>}:dlq:count`. */
  readonly deadLettered: string
  /** Counter of dead-lettered entries discarded for good (or dropped by the cap): `{S:p<i>}:dlq:discarded`. */
  readonly discarded: string
}

/** The names of the layout before hash tags, to recognise a deployment made with it. @category models */
export interface LegacyKeys {
  /** The old stream: `STREAM_KEY` itself. */
  readonly stream: string
  readonly received: string
  readonly deadLetter: string
  readonly deadLettered: string
}

/** Every Redis name of one deployment. @category models */
export interface StreamKeys {
  /** The validated `STREAM_KEY`. */
  readonly streamKey: string
  /** The consumer group the workers share (default `<STREAM_KEY>:workers`). */
  readonly group: string
  /** The keys of partition `index` (from 0). Throws a RangeError on a bad index. */
  readonly partition: (index: number) => PartitionKeys
  /**
   * The partition count the deployment was created with, `{S}:partitions` (a string key, set once): every
   * process checks its own count against it at start, since a topic's partition follows from the count.
   */
  readonly partitionCount: string
  /** The old layout's names, for the start-up check only. */
  readonly legacy: LegacyKeys
  /** The heartbeat key of consumer `name` (see `Liveness`): `{S}:consumer:<name>`. */
  readonly consumer: (name: string) => string
  /** The set of the names of consumers that beat (see `Liveness`): `{S}:consumers`. */
  readonly consumers: string
  /**
   * The pub/sub channel on which workers announce commits to the api's live tails (see `CommitChannel`):
   * `{S}:commits`. A channel, not a key: it stores nothing.
   */
  readonly commits: string
}

/**
 * The problem with a `STREAM_KEY` (phrased to follow the variable's name: "must be …"), or `undefined` when it
 * is valid: 1–200 characters, no whitespace, no control characters, no `{` or `}`. Every configuration that
 * reads `STREAM_KEY` checks it with this function.
 * @category constructors
 */
export const validate = (streamKey: string): string | undefined => {
  const length = [...streamKey].length
  if (length >= 1 && length <= MAX_LENGTH && !FORBIDDEN.test(streamKey)) return undefined
  return `must be 1–${MAX_LENGTH} characters without whitespace, control characters, "{" or "}", got ${JSON.stringify(streamKey)}`
}

/**
 * The names for a `STREAM_KEY` (and optionally an explicit consumer group name). Throws a RangeError with the
 * message of `validate` for a bad key, or naming the bad group.
 * @category constructors
 */
export const make = (streamKey: string, group?: string): StreamKeys => {
  const problem = validate(streamKey)
  if (problem !== undefined) throw new RangeError(`STREAM_KEY ${problem}`)
  if (group !== undefined && !VALID_GROUP.test(group)) {
    throw new RangeError(
      `consumer group must be 1–255 characters without whitespace or control characters, got ${JSON.stringify(group)}`
    )
  }
  // Dead letters, their counters and the consumers' marks belong to a group: another group on the same stream (a
  // service's inbox) keeps its own beside the workers', so neither's counts or liveness leak into the other's. The
  // workers' group keeps the plain names; any other group's carry `g<length>:<group>:` (the length makes the
  // prefix unambiguous whatever the group name holds).
  const defaultGroup = `${streamKey}:workers`
  const own = group === undefined || group === defaultGroup ? "" : `g${[...group].length}:${group}:`
  const partition = (index: number): PartitionKeys => {
    if (!Number.isSafeInteger(index) || index < 0)
      throw new RangeError(`a partition is an integer from 0, got ${index}`)
    const tag = `{${streamKey}:p${index}}`
    return {
      index,
      stream: `${tag}:stream`,
      received: `${tag}:received`,
      deadLetter: `${tag}:${own}dlq`,
      deadLettered: `${tag}:${own}dlq:count`,
      discarded: `${tag}:${own}dlq:discarded`
    }
  }
  return {
    streamKey,
    group: group ?? defaultGroup,
    partition,
    partitionCount: `{${streamKey}}:partitions`,
    consumer: (name) => `{${streamKey}}:${own}consumer:${name}`,
    consumers: `{${streamKey}}:${own}consumers`,
    commits: `{${streamKey}}:commits`,
    legacy: {
      stream: streamKey,
      received: `${streamKey}:received`,
      deadLetter: `${streamKey}:dlq`,
      deadLettered: `${streamKey}:dlq:count`
    }
  }
}
