/**
 * Pure: classify a batch of deliveries against what is stored. Decides, per delivery and in input order, whether
 * it is new, a duplicate of a stored (or earlier in-batch) event with the same content, a conflict (same key,
 * different content), or a redelivery of a broker entry that was already committed.
 *
 * It does not read or write storage: the caller looks up the stored hashes of the batch's keys and the committed
 * delivery ids first (under the lock that makes the answer stable), then calls `classify`.
 */
import type { Event } from "@agg/schema"
import { contentHash } from "./ContentHash.ts"
import { refKey } from "./EventLog.ts"
import type { Delivery } from "./EventStore.ts"

/** What to do with one delivery. @category models */
export type Verdict = "New" | "Duplicate" | "Conflict" | "Redelivered"

/** One classified delivery: its verdict, its dedup key and its content hash. @category models */
export interface Classified {
  readonly delivery: Delivery
  readonly verdict: Verdict
  readonly key: string
  readonly hash: string
}

/** What is already stored, as seen by the transaction that commits the batch. @category models */
export interface Stored {
  /** The content hash stored for a dedup key (see `keyOf`), or undefined when the key is not stored. */
  readonly hashOf: (key: string) => string | undefined
  /** Whether a delivery (by its `EventLog.refKey`) belongs to a batch committed earlier. */
  readonly isCommitted: (deliveryKey: string) => boolean
}

/**
 * The dedup key of an event as one string: topic and event id joined by a NUL, a character neither may hold
 * (topics exclude control characters), so distinct pairs never collide.
 * @category constructors
 */
export const keyOf = (event: Pick<Event, "topic" | "event_id">): string => `${event.topic}\u0000${event.event_id}`

/**
 * Classify a batch in input order. A delivery id seen before (committed, or earlier in this batch) is
 * `Redelivered` and is not looked at further. Otherwise the first occurrence of a key that is not stored is
 * `New`; every later occurrence, and any occurrence of a stored key, is `Duplicate` when its content hash equals
 * the first version's and `Conflict` when it differs.
 * @category constructors
 */
export const classify = (batch: ReadonlyArray<Delivery>, stored: Stored): Array<Classified> => {
  const seenHashes = new Map<string, string>()
  const seenDeliveries = new Set<string>()
  const out: Array<Classified> = []
  for (const delivery of batch) {
    const key = keyOf(delivery.event)
    const hash = contentHash(delivery.event)
    const id = delivery.deliveryId === undefined ? undefined : refKey(delivery.deliveryId)
    if (id !== undefined) {
      if (seenDeliveries.has(id) || stored.isCommitted(id)) {
        out.push({ delivery, verdict: "Redelivered", key, hash })
        continue
      }
      seenDeliveries.add(id)
    }
    const first = seenHashes.get(key) ?? stored.hashOf(key)
    if (first === undefined) {
      seenHashes.set(key, hash)
      out.push({ delivery, verdict: "New", key, hash })
    } else {
      seenHashes.set(key, first)
      out.push({ delivery, verdict: first === hash ? "Duplicate" : "Conflict", key, hash })
    }
  }
  return out
}
