/**
 * Port: the broker between the API and the workers (Redis Streams in production). An append-only log read by
 * one consumer group; entries stay pending for the consumer that read them until acknowledged, and are handed
 * to another consumer once theirs is dead (a dead consumer's work is never lost).
 *
 * Liveness: each consumer proves it is alive with `heartbeat` (a mark that expires after its time to live, so a
 * killed process stops being alive by itself). `reclaim` only takes over entries of consumers without a live mark,
 * so a slow but live consumer never has its work taken away however long one batch takes.
 *
 * Partitions: the log is split into a fixed number of partitions (1 unless configured; see `Partitioning`), each
 * its own stream with its own entry ids, pending lists and dead-letter store. An event goes to the partition of its
 * topic, so the events of one topic stay in append order; there is no order across partitions. Consumers split the
 * partitions among themselves: at each `heartbeat` a consumer's share is computed from the live consumers at that
 * moment (`Partitioning.share`), and `read` and the reclaiming of dead consumers' entries keep to it. A consumer
 * that never sent a heartbeat owns every partition. Ownership only spreads the work: when a consumer dies, its
 * partitions pass to the others at their next heartbeat, together with its pending entries (reclaimed by the new
 * owner), so nothing depends on it for correctness.
 *
 * Dead letters: entries that must not be committed are moved aside (`deadLetter`), where they can be listed
 * (`deadLetters`), appended back once their cause is fixed (`redrive`) or removed for good (`discard`). Every
 * entry ever appended is, at a quiet point, in exactly one place: processed (committed or dropped as a
 * duplicate), waiting (`lag + pending`), dead-lettered, or discarded.
 *
 * @remarks One entry carries one event. The port decodes entries: a consumer sees either an event or the
 * reason it could not be decoded. It never commits anything; ack after commit is the consumer's job.
 */
import type { Event } from "@agg/schema"
import { Context, type Duration, type Effect, Schema } from "effect"

/**
 * Where an entry lives: the stream (one partition of the log) and the entry's id within it. Entry ids are only
 * unique within their stream, so anything that remembers deliveries (the store's record of committed entries,
 * acknowledgements) keys them by both.
 * @category models
 */
export interface EntryRef {
  /** The stream's name, e.g. a Redis stream key. Never contains a space. */
  readonly stream: string
  /** The entry's id within its stream, e.g. a Redis `<ms>-<seq>` id. */
  readonly id: string
}

/**
 * One string per `EntryRef`, for sets and maps: `"<stream> <id>"` (a stream name holds no space, so distinct refs
 * never collide).
 * @category constructors
 */
export const refKey = (ref: EntryRef): string => `${ref.stream} ${ref.id}`

/**
 * Whether entry id `id` comes before `floor`, both `<ms>-<seq>`, compared as numbers (ms, then seq), never as
 * text (where `…-10` would sort before `…-9`).
 * @category constructors
 */
export const isBelow = (id: string, floor: string): boolean => {
  const [ms, seq] = id.split("-").map(BigInt) as [bigint, bigint]
  const [floorMs, floorSeq] = floor.split("-").map(BigInt) as [bigint, bigint]
  return ms < floorMs || (ms === floorMs && seq < floorSeq)
}

/**
 * An entry handed to a consumer: its stream and id, how many times it has been delivered (1 on the first read),
 * and either the decoded event or why it could not be decoded.
 * @category models
 */
export type LogEntry =
  | {
      readonly _tag: "Event"
      readonly stream: string
      readonly id: string
      readonly deliveries: number
      readonly event: Event
    }
  | {
      readonly _tag: "Undecodable"
      readonly stream: string
      readonly id: string
      readonly deliveries: number
      readonly reason: string
    }

/**
 * The log's figures. `received` counts events appended since the log was created; `lag` entries were never
 * delivered; `pending` entries were delivered but not yet acknowledged; `deadLettered` entries are in the
 * dead-letter store now (a redrive takes them out again, into `lag`); `discarded` entries were removed from it
 * for good (by `discard` or by its cap). Outstanding work is `lag + pending`.
 * @category models
 */
export interface LogStats {
  readonly received: number
  readonly lag: number
  readonly pending: number
  readonly deadLettered: number
  readonly discarded: number
}

/**
 * One consumer of the group as the broker lists it, over all partitions: entries delivered to it and not yet
 * acknowledged (`pending`, summed), milliseconds since it last read or claimed in any partition (`idleMs`, the
 * least; 0 for a live consumer that has not read yet), whether it holds a live `heartbeat` mark (`alive`; a consumer
 * without one is reclaimed from and, once it holds nothing, removed) and the partitions it owns given the consumers
 * alive now (`partitions`, ascending; empty for a consumer that is not alive).
 * @category models
 */
export interface ConsumerInfo {
  readonly name: string
  readonly pending: number
  readonly idleMs: number
  readonly alive: boolean
  readonly partitions: ReadonlyArray<number>
}

/** How many entries a dead-letter store (one per partition) holds unless configured otherwise. @category models */
export const defaultDeadLetterCap = 100_000

/**
 * One entry of a dead-letter store: its id (the paging cursor and what `redrive`/`discard` take), where the entry
 * was (`entry`), why and after how many deliveries (0 when
 * unknown) it was moved, when (ISO), and its content: the event, the raw fields (values base64) of an entry that
 * does not decode, or `Lost` when the entry had vanished from the stream before it could be copied.
 *
 * The id is the entry's id in its partition's store, `<ms>-<seq>` (rising in arrival order within the partition),
 * followed by `-<partition>` for partitions other than 0 (`Partitioning.deadLetterId`): a log with one partition has
 * plain stream ids.
 * @category models
 */
export interface DeadLetterEntry {
  readonly id: string
  readonly entry: EntryRef
  readonly reason: string
  readonly deliveries: number
  readonly deadLetteredAt: string
  readonly content:
    | { readonly _tag: "Event"; readonly event: Event }
    | { readonly _tag: "Undecodable"; readonly raw: Readonly<Record<string, string>> }
    | { readonly _tag: "Lost" }
}

/**
 * A page of the dead letters of all partitions, in `Partitioning.compareDeadLetterIds` order (oldest first within a
 * partition); `nextAfter`: the last id, or the query's `after` (`"0-0"` without one).
 * @category models
 */
export interface DeadLetterPage {
  readonly entries: ReadonlyArray<DeadLetterEntry>
  readonly nextAfter: string
}

/**
 * What `redrive`/`discard` did: `count` entries moved (appended back, or removed for good); of the ids asked
 * for, `missing` are not in the dead-letter store (never were, or already redriven or discarded) and `skipped`
 * (redrive only) have `Lost` content, so nothing could be appended: they stay until discarded.
 * @category models
 */
export interface DeadLetterOutcome {
  readonly count: number
  readonly missing: ReadonlyArray<string>
  readonly skipped: ReadonlyArray<string>
}

/**
 * What `EventLog.reclaim` takes over: up to `count` entries idle for `minIdle` of dead consumers and, with `own`,
 * the caller's own entries idle for `own.minIdle` whose `refKey` is not in `own.held`.
 * @category models
 */
export interface ReclaimOptions {
  readonly minIdle: Duration.Duration
  readonly count: number
  readonly own?: { readonly minIdle: Duration.Duration; readonly held: ReadonlySet<string> }
}

/**
 * A broker failure. `retryable`: the connection was lost or the broker is busy; the operation may be repeated.
 * @category errors
 */
export class EventLogError extends Schema.TaggedError<EventLogError>()("EventLogError", {
  operation: Schema.String,
  retryable: Schema.Boolean,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** @category services */
export class EventLog extends Context.Service<
  EventLog,
  {
    /**
     * Append the events, one entry each, to the partition of each one's topic (in the given order within a
     * partition), and add their number to `received`: one atomic step per partition. Where partitions live on
     * different servers a failure may leave some of them appended; the caller's retry then appends those events
     * again, duplicates the store drops.
     */
    readonly append: (events: ReadonlyArray<Event>) => Effect.Effect<void, EventLogError>
    /**
     * Read up to `count` never-delivered entries for `consumer`, waiting up to `block` for the first one;
     * an empty array when none arrived. The entries become pending for that consumer. Only partitions of its share
     * as of its last `heartbeat` are read (every partition when it never sent one), partition by partition from a
     * starting point that moves on with every read, so no partition is starved; a consumer that owns nothing
     * waits `block` and gets nothing.
     */
    readonly read: (
      consumer: string,
      options: { readonly count: number; readonly block: Duration.Duration }
    ) => Effect.Effect<ReadonlyArray<LogEntry>, EventLogError>
    /**
     * Acknowledge entries: they leave the pending list of their stream for good. Unknown or already acked entries,
     * and entries of streams the log does not have, are ignored.
     */
    readonly ack: (entries: ReadonlyArray<EntryRef>) => Effect.Effect<void, EventLogError>
    /**
     * Mark `consumer` alive for `ttl` from now (replacing its previous mark). A consumer refreshes it well inside
     * the ttl for as long as it runs and before its first `read`; once the mark has expired the consumer counts as
     * dead. Consumers that never called it (other versions, tests) count as dead too.
     *
     * It also recomputes `consumer`'s share of the partitions from the consumers alive at this moment
     * (`Partitioning.share`); `read` and `reclaim` use the share of the last heartbeat, so partitions move between
     * consumers only at heartbeats.
     */
    readonly heartbeat: (consumer: string, ttl: Duration.Duration) => Effect.Effect<void, EventLogError>
    /**
     * Take over up to `count` entries pending for longer than `minIdle` for consumers that are dead (no live
     * `heartbeat` mark; `consumer` itself is never one of them): they become pending for `consumer`, and each
     * comes back with its delivery count, this delivery included. Entries of live consumers are never taken.
     * Dead consumers left with nothing pending are removed from the group on the way (for good: a consumer that
     * was only late reappears with its next read). Fewer than `count` entries means no more are reclaimable now.
     * Dead consumers' entries are taken only from partitions of `consumer`'s share (all of them when it never sent
     * a heartbeat), and dead consumers are removed only there: each partition's new owner picks up what the last
     * one left.
     *
     * With `own`, `consumer`'s own entries idle past `own.minIdle` whose `refKey` is not in `own.held` (the entries
     * it has in hand) are taken back first: deliveries whose reply never reached it (the broker delivered them, then
     * the connection dropped before the answer arrived). Only the consumer knows what it holds, so only it can
     * tell these from a slow batch. They are taken back from every partition, owned or not.
     */
    readonly reclaim: (
      consumer: string,
      options: ReclaimOptions
    ) => Effect.Effect<ReadonlyArray<LogEntry>, EventLogError>
    /**
     * Move an entry to its partition's dead-letter store with the reason and its delivery count, and acknowledge
     * it, in one atomic step. It is counted in `deadLettered` and never delivered again (unless redriven). Each
     * partition's store is capped on its own: when it is full, its oldest entries are dropped in the same step and
     * counted in `discarded`. An entry that is not pending (acked, already moved, or of a stream the log does not
     * have) is left alone.
     */
    readonly deadLetter: (entry: LogEntry, reason: string) => Effect.Effect<void, EventLogError>
    /**
     * A page of the dead letters of all partitions, merged in `Partitioning.compareDeadLetterIds` order: up to
     * `limit` entries with ids after `after` (from the first without it). `after` may name a partition the log
     * does not have (it is only a position); one that is not a dead-letter id fails, not retryable.
     */
    readonly deadLetters: (query: {
      readonly after?: string
      readonly limit: number
    }) => Effect.Effect<DeadLetterPage, EventLogError>
    /**
     * Append dead-lettered entries back to the log, each as a new never-delivered entry with its original fields in
     * its own partition, and remove them from the dead-letter store: per entry in one atomic step, so an entry is never both or
     * neither. `deadLettered` goes down and `lag` up by one each; `received` stays (the events were counted when
     * first appended). An entry that fails again is dead-lettered again (a new id), like any other. `"all"`: every
     * entry in the stores of all partitions when the call starts (those dead-lettered meanwhile stay). An id that
     * is malformed or names a partition the log does not have is `missing`.
     */
    readonly redrive: (ids: ReadonlyArray<string> | "all") => Effect.Effect<DeadLetterOutcome, EventLogError>
    /**
     * Remove dead-lettered entries for good: `deadLettered` goes down and `discarded` up by one each, atomically
     * per entry (`"all"`: each partition's whole store in one step). `skipped` is always empty. Ids are taken as by
     * `redrive`.
     */
    readonly discard: (ids: ReadonlyArray<string> | "all") => Effect.Effect<DeadLetterOutcome, EventLogError>
    /** The current figures, summed over the partitions. */
    readonly stats: Effect.Effect<LogStats, EventLogError>
    /**
     * The group's consumers by name (ascending), for monitoring: one row per consumer over all partitions, those
     * that read or claimed and were not removed and those holding a live mark; read-only (nothing is claimed,
     * removed or refreshed), a few commands per partition however much is pending.
     */
    readonly consumers: Effect.Effect<ReadonlyArray<ConsumerInfo>, EventLogError>
    /**
     * Per stream (one per partition), the lowest entry id that can still be delivered (again): the oldest pending entry, or, when none
     * is pending, the id right after the last one delivered. Every entry below it is acknowledged for good, so a
     * store may forget that it committed them (`EventStore.forget`). A stream nothing was delivered from yet is
     * left out.
     */
    readonly deliveryFloor: Effect.Effect<ReadonlyArray<EntryRef>, EventLogError>
  }
>()("@agg/core/EventLog") {}
