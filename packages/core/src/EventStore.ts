/**
 * Port: the durable store of deduplicated events. One `commit` is one all-or-nothing transaction that classifies
 * each event against what is stored, assigns gap-free per-topic offsets to the new ones, and counts.
 *
 * @remarks Never exposes connections or transactions. Knows nothing about HTTP or the broker beyond opaque
 * delivery ids, which it records only to recognise a redelivered entry.
 */
import type { Event, StoredConflict, StoredEvent } from "@agg/schema"
import { Context, type Duration, type Effect, type Option, Schema } from "effect"
import type { EntryRef } from "./EventLog.ts"

/**
 * One event handed to `commit`, with the broker entry that carried it (queued mode), or none (direct mode, where
 * nothing is ever redelivered). The entry is recorded with the commit, so a redelivery of it is recognised.
 * @category models
 */
export interface Delivery {
  readonly deliveryId?: EntryRef
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
 * The store's overall counters and how many topics it holds, read without scanning the topics (see `totals`).
 * `duplicates` includes `conflicts`. @category models
 */
export interface StoreTotals {
  readonly unique: number
  readonly duplicates: number
  readonly conflicts: number
  readonly topicCount: number
}

/** A page of topics: names greater than `after` ("" for the first page), at most `limit`. @category models */
export interface TopicQuery {
  readonly after: string
  readonly limit: number
}

/**
 * A page of topics with their counters, sorted by name. `nextAfter` is always the `after` of the next page: the
 * last returned name, or the query's own `after` when the page is empty. @category models
 */
export interface TopicPage {
  readonly topics: ReadonlyArray<TopicStats>
  readonly nextAfter: string
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

/**
 * A page of events. `nextAfter` is always the `after` of the next read: the last returned offset (with `topic`)
 * or position (without), or the query's own `after` when the page is empty. A reader that passes it back, page
 * after page, tails the log forever without ever losing its place, short pages included. Events of an
 * all-topics read carry their `position`.
 * @category models
 */
export interface Page {
  readonly events: ReadonlyArray<StoredEvent>
  readonly nextAfter: number
}

/** A page of rejected versions (see `StoredConflict`); `nextAfter` as in `Page`. @category models */
export interface ConflictPage {
  readonly conflicts: ReadonlyArray<StoredConflict>
  readonly nextAfter: number
}

/** Where a read by time starts: the first event received at or after `since` (ISO), in a topic or all. @category models */
export interface TimeQuery {
  readonly topic?: string
  readonly since: string
}

/** How many rejected versions a store keeps per key (the first ones); all of them are counted. @category models */
export const conflictsKeptPerKey = 10

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
     * Which of these entries belong to a committed batch, as a set of their `EventLog.refKey`s (a subset of the
     * input; order and duplicates in the input do not matter). Reads only the record of delivery ids, never events. A consumer asks this before
     * dead-lettering an entry, so an entry whose commit succeeded but whose ack never came (its consumers died
     * after committing, on every delivery) is acknowledged instead of being counted a second time, as dead-lettered.
     */
    readonly committed: (deliveryIds: ReadonlyArray<EntryRef>) => Effect.Effect<ReadonlySet<string>, EventStoreError>
    /** Read one page of events (see `ReadQuery`). */
    readonly read: (query: ReadQuery) => Effect.Effect<Page, EventStoreError>
    /** The stored version of one event, by its key, or none. */
    readonly lookup: (key: {
      readonly topic: string
      readonly event_id: string
    }) => Effect.Effect<Option.Option<StoredEvent>, EventStoreError>
    /**
     * Page the rejected later versions of keys (with `topic`: of that topic), in the order they were committed,
     * by `position`; like `read`, no commit can add one below a position a read has returned. At most
     * `conflictsKeptPerKey` versions are kept per key, each carrying the key's total.
     */
    readonly conflicts: (query: ReadQuery) => Effect.Effect<ConflictPage, EventStoreError>
    /**
     * The cursor at a time: the `after` for `read` (an offset with `topic`, a position without) that starts at
     * the first event received at or after `since`; the end of the log when there is none yet. Uses an index,
     * never a scan.
     */
    readonly cursorAt: (query: TimeQuery) => Effect.Effect<number, EventStoreError>
    /**
     * The counters, overall and per topic (topics sorted by name). Reads every topic: prefer `totals` and
     * `topics`, whose cost does not grow with the number of topics.
     */
    readonly stats: Effect.Effect<StoreStats, EventStoreError>
    /**
     * The overall counters and the topic count, without a scan per call and without a row that every commit
     * updates (which would serialize all writers). A store may serve them from an aggregate it refreshes at most
     * every so often, plus its own commits since; its documentation states how stale they may be. At a quiet
     * point, once that bound has passed, they equal the sums of the per-topic counters.
     */
    readonly totals: Effect.Effect<StoreTotals, EventStoreError>
    /** One page of topics by name (see `TopicQuery`), each with its counters; an index range, never a scan. */
    readonly topics: (query: TopicQuery) => Effect.Effect<TopicPage, EventStoreError>
    /** Whether the store answers at all: one round trip that reads nothing (a liveness check). */
    readonly ping: Effect.Effect<void, EventStoreError>
    /**
     * Forget recorded entries of `floor.stream` whose id is below `floor.id` (ids compared as numbers: ms, then
     * seq) and that were committed more than `olderThan` ago; returns how many were forgotten. The record of
     * committed entries exists only to recognise redeliveries; the log's `deliveryFloor` says which entries can
     * no longer come back, and `olderThan` is the safety margin for an acknowledgement a broker crash could undo.
     * Bounded per call (a store may forget fewer than it could; the next call continues).
     */
    readonly forget: (
      floor: EntryRef,
      options: { readonly olderThan: Duration.Duration }
    ) => Effect.Effect<number, EventStoreError>
  }
>()("@agg/core/EventStore") {}
