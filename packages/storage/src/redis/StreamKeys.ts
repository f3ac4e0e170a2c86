/**
 * Every Redis name of one deployment, derived from its `STREAM_KEY`, so two deployments with different keys can
 * share one Redis without touching each other's data.
 *
 * @remarks Names only; creates nothing.
 */

/** The names used by `RedisEventLog`. @category models */
export interface StreamKeys {
  /** The stream of events (the `STREAM_KEY` itself). */
  readonly stream: string
  /** The consumer group the workers share. */
  readonly group: string
  /** Counter of events ever appended (`received`). */
  readonly received: string
  /** The dead-letter stream. */
  readonly deadLetter: string
  /** Counter of dead-lettered entries. */
  readonly deadLettered: string
}

/** Same rule as topics: 1–255 characters, no whitespace or control characters. */
const VALID = /^[^\s\p{Cc}]{1,255}$/u

/**
 * The names for a `STREAM_KEY` (and optionally an explicit group name). Throws a RangeError naming the bad value
 * when the key is empty, too long or holds whitespace / control characters.
 * @category constructors
 */
export const make = (streamKey: string, group?: string): StreamKeys => {
  if (!VALID.test(streamKey)) {
    throw new RangeError(
      `STREAM_KEY must be 1–255 characters without whitespace or control characters, got ${JSON.stringify(streamKey)}`
    )
  }
  if (group !== undefined && !VALID.test(group)) {
    throw new RangeError(
      `consumer group must be 1–255 characters without whitespace or control characters, got ${JSON.stringify(group)}`
    )
  }
  return {
    stream: streamKey,
    group: group ?? `${streamKey}:workers`,
    received: `${streamKey}:received`,
    deadLetter: `${streamKey}:dlq`,
    deadLettered: `${streamKey}:dlq:count`
  }
}
