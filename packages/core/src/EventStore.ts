/**
 * Port: the durable store of deduplicated events. One `commit` is one all-or-nothing transaction that classifies
 * each event against what is stored, assigns gap-free per-topic offsets to the new ones, and counts.
 *
 * @remarks Never exposes connections or transactions. Knows nothing about HTTP or the broker beyond opaque
 * delivery ids, which it records only to recognise a redelivered entry.
 */
import type { Event, StoredEvent } from "@agg/schema"
import { Context, type Effect, Schema } from "effect"

/**
 * One event handed to `commit`, with the id of the broker entry that carried it (queued mode) or no id
 * (direct mode, where nothing is ever redelivered).
 * @category models
 */
export interface Delivery {
  readonly deliveryId?: string
  readonly event: Event
}

/**
 * What a commit did with one delivery, in input order:
 * - `New`: stored, with its per-topic offset;
 * - `Duplicate`: the key was already stored (earlier, or earlier in the same batch) with the same content;
 * - `Conflict`: the key was already stored with different `timestamp`/`source`/`payload`; the first version
 *   stays; counted as a duplicate and as a conflict;
 * - `Redelivered`: this delivery id was committed before (a crash between commit and ack); nothing is counted.
 * @category models
 */
export type Outcome =
  | { readonly _tag: "New"; readonly offset: number }
  | { readonly _tag: "Duplicate" }
  | { readonly _tag: "Conflict" }
  | { readonly _tag: "Redelivered" }

/** Counters of one topic. `unique` is also its highest offset. @category models */
export interface TopicStats {
  readonly topic: string
  readonly unique: number
  readonly duplicates: number
  readonly conflicts: number
}

/** The store's counters, summed from the per-topic rows. `duplicates` includes `conflicts`. @category models */
export interface StoreStats {
  readonly unique: number
  readonly duplicates: number
  readonly conflicts: number
  readonly topics: ReadonlyArray<TopicStats>
}

/**
 * A page query. With `topic`: that topic's events with offset > `after`, in offset order. Without: every topic,
 * in storage order, with `after` a storage position (the previous page's `nextAfter`). Either way no commit can
 * ever add an event before one a read has returned, so a reader paging on while others commit misses nothing and
 * sees nothing twice; without `topic` a store may show a commit only once the commits that started before it have
 * finished.
 * @category models
 */
export interface ReadQuery {
  readonly topic?: string
  readonly after: number
  readonly limit: number
}

/** A page of events; `nextAfter` is the `after` of the next page, or null when this page was not full. @category models */
export interface Page {
  readonly events: ReadonlyArray<StoredEvent>
  readonly nextAfter: number | null
}

/**
 * A store failure. `retryable` failures (connection loss, serialization failure, deadlock, shutdown, and setup
 * faults an operator can fix: a missing table, refused credentials, an unknown database, exhausted resources)
 * may succeed on a later attempt; the others are about the data (a value the database refuses) and will fail
 * again with the same batch. A retryable `commit` failure normally left nothing committed, but a connection lost
 * during COMMIT has an unknown outcome: the batch may be committed. Repeating it is safe when it carries delivery
 * ids (they come back `Redelivered`); in direct mode the repeat classifies the events as duplicates.
 * @category errors
 */
export class EventStoreError extends Schema.TaggedError<EventStoreError>()("EventStoreError", {
  operation: Schema.String,
  retryable: Schema.Boolean,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** @category services */
export class EventStore extends Context.Service<
  EventStore,
  {
    /**
     * Commit a batch in one transaction and return one `Outcome` per delivery, in input order. Duplicates inside
     * the batch count like duplicates of stored events (the first occurrence wins). Offsets of a topic are
     * assigned in input order, gap-free, and a commit that starts later never gets a lower offset.
     * On failure nothing of the batch is committed.
     */
    readonly commit: (batch: ReadonlyArray<Delivery>) => Effect.Effect<ReadonlyArray<Outcome>, EventStoreError>
    /**
     * Which of these delivery ids belong to a committed batch (the subset of the input; order and duplicates in
     * the input do not matter). Reads only the record of delivery ids, never events. A consumer asks this before
     * dead-lettering an entry, so an entry whose commit succeeded but whose ack never came (its consumers died
     * after committing, on every delivery) is acknowledged instead of being counted a second time, as dead-lettered.
     */
    readonly committed: (deliveryIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, EventStoreError>
    /** Read one page of events (see `ReadQuery`). */
    readonly read: (query: ReadQuery) => Effect.Effect<Page, EventStoreError>
    /** The counters, overall and per topic (topics sorted by name). */
    readonly stats: Effect.Effect<StoreStats, EventStoreError>
  }
>()("@agg/core/EventStore") {}
