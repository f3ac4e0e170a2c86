/**
 * Pure: gap-free per-topic offsets. Given how many events each topic holds, the new events of a batch get the
 * next offsets of their topic in arrival order (1, 2, 3, … per topic, never reused, never skipped).
 *
 * It does not decide which events are new (that is `Dedup`, and it must run first: an offset handed to a
 * duplicate would leave a gap) and does not persist the counters.
 */

/** The offsets given to a batch's new events and each touched topic's count afterwards. @category models */
export interface Assignment {
  /** One offset per input topic, in input order. */
  readonly offsets: Array<number>
  /** The count (= highest offset) of every topic that received events, after the batch. */
  readonly counts: Map<string, number>
}

/**
 * Assign offsets to new events, given their topics in arrival order and each topic's current count.
 * @category constructors
 */
export const assignOffsets = (topics: ReadonlyArray<string>, currentCount: (topic: string) => number): Assignment => {
  const counts = new Map<string, number>()
  const offsets = topics.map((topic) => {
    const next = (counts.get(topic) ?? currentCount(topic)) + 1
    counts.set(topic, next)
    return next
  })
  return { offsets, counts }
}
