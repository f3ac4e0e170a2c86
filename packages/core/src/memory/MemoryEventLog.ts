/**
 * An in-memory `EventLog` with the semantics of Redis Streams read by one consumer group per stream: entries are
 * delivered once in append order, then stay pending for the consumer that read them until acknowledged;
 * `heartbeat` marks a consumer alive until its ttl passes; `reclaim` hands entries idle for at least `minIdle` of
 * consumers without a live mark to another consumer (times measured with `Clock`, so `TestClock` drives them),
 * increments their delivery count and forgets dead consumers left with nothing pending; dead-lettered entries leave
 * the pending list and are counted, in a store capped at `deadLetterCap` (the oldest dropped, counted as discarded),
 * from which they are redriven (a new entry with the same body, `received` unchanged) or discarded.
 *
 * With `partitions` > 1 the log is that many such streams, named `<stream>:p<i>`, each with its own ids, pending
 * list, consumers and dead-letter store; events go to their topic's partition and consumers keep to their share
 * (see `Partitioning` and the port's documentation), exactly as the Redis log does.
 *
 * For tests and embedding; not durable. `make` also returns test controls (`appendUndecodable`, `deadLetters`,
 * `consumers`) and accepts a `fault` hook, so the port stays free of test-only members.
 */
import type { Event } from "@agg/schema"
import { Clock, Deferred, Duration, Effect, Layer } from "effect"
import {
  type ConsumerInfo,
  type DeadLetterEntry,
  type DeadLetterOutcome,
  defaultDeadLetterCap,
  type EntryRef,
  EventLog,
  EventLogError,
  type LogEntry,
  type ReclaimOptions,
  refKey
} from "../EventLog.ts"
import * as Partitioning from "../Partitioning.ts"

/** Options of `make`. @category models */
export interface Options {
  /**
   * The stream name its entries carry (`LogEntry.stream`). Default `"memory"`. With more than one partition, each
   * partition `i` is the stream `<stream>:p<i>`.
   */
  readonly stream?: string
  /**
   * How many partitions the log has (an integer from 1 to `Partitioning.maxPartitions`; `make` dies with a
   * `RangeError` otherwise). Default 1.
   */
  readonly partitions?: number
  /** Runs before every operation; a failure (or defect) replaces the operation, which then changes nothing. */
  readonly fault?: (
    operation:
      | "append"
      | "read"
      | "ack"
      | "heartbeat"
      | "reclaim"
      | "deadLetter"
      | "stats"
      | "deadLetters"
      | "redrive"
      | "discard"
  ) => Effect.Effect<void, EventLogError>
  /**
   * Most entries each partition's dead-letter store holds; the oldest beyond are dropped and counted as discarded.
   */
  readonly deadLetterCap?: number
}

/** An entry in the dead-letter store. @category models */
export interface DeadLetter {
  /** Its public dead-letter id (what `redrive` and `discard` take): `<ms>-<seq>`, `-<partition>` after it unless 0. */
  readonly id: string
  readonly entry: LogEntry
  readonly reason: string
  readonly deliveries: number
}

/** The log plus the controls tests need. @category models */
export interface MemoryEventLog {
  readonly log: EventLog["Service"]
  /**
   * Append an entry that will not decode (as a foreign or corrupted write would) to partition 0, with the raw
   * fields a listing shows (default `{ e: reason }`); counted in `received`. Returns its id.
   */
  readonly appendUndecodable: (reason: string, raw?: Readonly<Record<string, string>>) => Effect.Effect<string>
  /** The dead letters of all partitions, in the order entries arrived there. */
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter>>
  /**
   * The group's consumers (those that read or claimed in some partition and were not removed from all), each with
   * its pending count summed over the partitions.
   */
  readonly consumers: Effect.Effect<ReadonlyMap<string, number>>
}

type Body =
  | { readonly _tag: "Event"; readonly event: Event }
  | { readonly _tag: "Undecodable"; readonly reason: string; readonly raw: Readonly<Record<string, string>> }

interface Pending {
  consumer: string
  deliveredAt: number
  deliveries: number
}

interface Stored extends DeadLetter {
  /** Its id in its partition's store. */
  readonly local: string
  readonly at: number
  /** A log-wide arrival number, for the `deadLetters` control. */
  readonly arrival: number
}

/** One stream of the log, as one Redis stream with its consumer group and dead-letter store would be. */
interface Partition {
  readonly index: number
  readonly name: string
  seq: number
  readonly bodies: Map<string, Body>
  readonly undelivered: Array<string> // FIFO of ids never delivered
  head: number // undelivered[head..] are still waiting
  readonly pending: Map<string, Pending>
  readonly members: Set<string> // the group's consumers, as XINFO CONSUMERS would list them
  readonly seenAt: Map<string, number> // consumer -> when it last read or claimed here (ms)
  lastDelivered: number // sequence number of the newest entry ever delivered
  // The dead-letter store in arrival order (a Map keeps insertion order), keyed by local id.
  readonly dead: Map<string, Stored>
  deadSeq: number
}

const seqOf = (id: string) => Number(id.slice(0, id.indexOf("-")))
const byId = ([a]: [string, Pending], [b]: [string, Pending]) => seqOf(a) - seqOf(b)

/**
 * A fresh, empty log. Dies with a `RangeError` when `options.partitions` is not a valid partition count.
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<MemoryEventLog> =>
  Effect.gen(function* () {
    const count = options.partitions ?? 1
    const invalid = Partitioning.validatePartitions(count)
    if (invalid !== undefined) return yield* Effect.die(new RangeError(`partitions ${invalid}`))
    const stream = options.stream ?? "memory"
    const parts: ReadonlyArray<Partition> = Array.from({ length: count }, (_, index) => ({
      index,
      name: count === 1 ? stream : `${stream}:p${index}`,
      seq: 0,
      bodies: new Map(),
      undelivered: [],
      head: 0,
      pending: new Map(),
      members: new Set(),
      seenAt: new Map(),
      lastDelivered: 0,
      dead: new Map(),
      deadSeq: 0
    }))
    const byName = new Map(parts.map((p) => [p.name, p]))
    const everything = parts.map((p) => p.index)
    let received = 0
    let discarded = 0
    let arrivals = 0
    const aliveUntil = new Map<string, number>() // heartbeat marks: consumer -> expiry (ms)
    const shares = new Map<string, ReadonlyArray<number>>() // consumer -> its share as of its last heartbeat
    const turns = new Map<string, number>() // consumer -> where its next read starts in its share
    const cap = Math.max(1, options.deadLetterCap ?? defaultDeadLetterCap)
    let arrived = yield* Deferred.make<void>() // completed (and replaced) on every append
    const fault = options.fault ?? (() => Effect.void)

    const toEntry = (part: Partition, id: string, deliveries: number): LogEntry => {
      const body = part.bodies.get(id)!
      return body._tag === "Event"
        ? { _tag: "Event", stream: part.name, id, deliveries, event: body.event }
        : { _tag: "Undecodable", stream: part.name, id, deliveries, reason: body.reason }
    }
    const liveAt = (now: number) => [...aliveUntil].filter(([, until]) => until > now).map(([name]) => name)
    // A consumer that never beat owns every partition.
    const shareOf = (consumer: string) => shares.get(consumer) ?? everything

    // `counted`: a new event (in `received`); false for a redriven one, counted when it first came.
    const push = (part: Partition, body: Body, counted = true) => {
      const id = `${++part.seq}-0` // Redis-style ids, increasing within the stream
      part.bodies.set(id, body)
      part.undelivered.push(id)
      if (counted) received++
      return id
    }
    const notify = Effect.gen(function* () {
      const previous = arrived
      arrived = yield* Deferred.make<void>()
      yield* Deferred.succeed(previous, undefined)
    })

    const append = (events: ReadonlyArray<Event>) =>
      Effect.gen(function* () {
        yield* fault("append")
        if (events.length === 0) return
        for (const event of events) push(parts[Partitioning.partitionOf(event.topic, count)]!, { _tag: "Event", event })
        yield* notify
      })

    const take = (part: Partition, consumer: string, max: number, now: number): Array<LogEntry> => {
      const ids = part.undelivered.slice(part.head, part.head + max)
      if (ids.length === 0) return []
      part.head += ids.length
      if (part.head > 1024 && part.head * 2 > part.undelivered.length) {
        part.undelivered.splice(0, part.head) // compact now and then
        part.head = 0
      }
      part.members.add(consumer)
      part.seenAt.set(consumer, now)
      for (const id of ids) part.pending.set(id, { consumer, deliveredAt: now, deliveries: 1 })
      part.lastDelivered = seqOf(ids.at(-1)!)
      return ids.map((id) => toEntry(part, id, 1))
    }

    // Up to `max` entries from the share, partition by partition, starting one partition further each time.
    const takeFromShare = (consumer: string, max: number, now: number): Array<LogEntry> => {
      const share = shareOf(consumer)
      const got: Array<LogEntry> = []
      if (!share.some((i) => parts[i]!.head < parts[i]!.undelivered.length)) return got
      const turn = turns.get(consumer) ?? 0
      turns.set(consumer, turn + 1)
      for (let k = 0; k < share.length && got.length < max; k++) {
        const part = parts[share[(turn + k) % share.length]!]!
        got.push(...take(part, consumer, max - got.length, now))
      }
      return got
    }

    const read = (consumer: string, opts: { readonly count: number; readonly block: Duration.Duration }) =>
      Effect.gen(function* () {
        yield* fault("read")
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(opts.block)
        while (true) {
          const now = yield* Clock.currentTimeMillis
          // The share is looked up on every round: a heartbeat during the wait may have changed it.
          const got = takeFromShare(consumer, Math.max(1, opts.count), now)
          if (got.length > 0) return got
          if (now >= deadline) return []
          yield* Deferred.await(arrived).pipe(Effect.timeoutOption(Duration.millis(deadline - now)))
        }
      })

    const ack = (refs: ReadonlyArray<EntryRef>) =>
      Effect.gen(function* () {
        yield* fault("ack")
        for (const ref of refs) byName.get(ref.stream)?.pending.delete(ref.id)
      })

    const heartbeat = (consumer: string, ttl: Duration.Duration) =>
      Effect.gen(function* () {
        yield* fault("heartbeat")
        const now = yield* Clock.currentTimeMillis
        aliveUntil.set(consumer, now + Duration.toMillis(ttl))
        shares.set(consumer, Partitioning.share(consumer, liveAt(now), count))
      })

    const reclaim = (consumer: string, opts: ReclaimOptions) =>
      Effect.gen(function* () {
        yield* fault("reclaim")
        const now = yield* Clock.currentTimeMillis
        const minIdle = Duration.toMillis(opts.minIdle)
        const dead = (name: string) => name !== consumer && (aliveUntil.get(name) ?? 0) <= now
        for (const [name, until] of aliveUntil) if (until <= now) aliveUntil.delete(name) // expired marks go
        const owned = shareOf(consumer).map((i) => parts[i]!)
        // Its own lost deliveries first (with `own`), from every partition; then the idle entries of dead
        // consumers, from its share only. Partition by partition, in id order within each.
        const own = opts.own
        const lost = parts.flatMap((part) =>
          own === undefined
            ? []
            : [...part.pending.entries()]
                .filter(
                  ([id, p]) =>
                    p.consumer === consumer &&
                    now - p.deliveredAt >= Duration.toMillis(own.minIdle) &&
                    !own.held.has(refKey({ stream: part.name, id }))
                )
                .sort(byId)
                .map((e) => [part, ...e] as const)
        )
        const orphaned = owned.flatMap((part) =>
          [...part.pending.entries()]
            .filter(([, p]) => dead(p.consumer) && now - p.deliveredAt >= minIdle)
            .sort(byId)
            .map((e) => [part, ...e] as const)
        )
        const claimed = [...lost, ...orphaned].slice(0, Math.max(1, opts.count)).map(([part, id, p]) => {
          part.members.add(consumer)
          part.seenAt.set(consumer, now)
          p.consumer = consumer
          p.deliveredAt = now
          p.deliveries++
          return toEntry(part, id, p.deliveries)
        })
        for (const part of owned) {
          const holding = new Set([...part.pending.values()].map((p) => p.consumer))
          for (const name of part.members) {
            if (dead(name) && !holding.has(name)) {
              part.members.delete(name)
              part.seenAt.delete(name)
            }
          }
        }
        return claimed
      })

    const deadLetter = (entry: LogEntry, reason: string) =>
      Effect.gen(function* () {
        yield* fault("deadLetter")
        const part = byName.get(entry.stream)
        const p = part?.pending.get(entry.id)
        // Only a pending entry can move: a second call, or a call for an acked entry, changes nothing.
        if (part === undefined || p === undefined) return
        part.pending.delete(entry.id)
        const local = `${++part.deadSeq}-0`
        part.dead.set(local, {
          id: Partitioning.deadLetterId(part.index, local),
          local,
          entry,
          reason,
          deliveries: p.deliveries,
          at: yield* Clock.currentTimeMillis,
          arrival: ++arrivals
        })
        for (const oldest of part.dead.keys()) {
          if (part.dead.size <= cap) break
          part.dead.delete(oldest)
          discarded++
        }
      })

    const toDeadLetterEntry = (part: Partition, d: Stored): DeadLetterEntry => {
      const body = part.bodies.get(d.entry.id)!
      return {
        id: d.id,
        entry: { stream: part.name, id: d.entry.id },
        reason: d.reason,
        deliveries: d.deliveries,
        deadLetteredAt: new Date(d.at).toISOString(),
        content:
          body._tag === "Event"
            ? { _tag: "Event", event: body.event }
            : {
                _tag: "Undecodable",
                raw: Object.fromEntries(
                  Object.entries(body.raw).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")])
                )
              }
      }
    }

    // Every dead letter with its partition, in the order the port pages them.
    const allDead = () =>
      parts
        .flatMap((part) => [...part.dead.values()].map((d) => [part, d] as const))
        .sort(([, a], [, b]) => Partitioning.compareDeadLetterIds(a.id, b.id))

    const deadLetters = (query: { readonly after?: string; readonly limit: number }) =>
      Effect.gen(function* () {
        yield* fault("deadLetters")
        const after = query.after
        if (after !== undefined && Partitioning.parseDeadLetterId(after) === undefined)
          return yield* Effect.fail(
            new EventLogError({
              operation: "deadLetters",
              retryable: false,
              message: `after must be a dead-letter id <ms>-<seq> or <ms>-<seq>-<partition>, got ${JSON.stringify(after)}`
            })
          )
        const entries = allDead()
          .filter(([, d]) => after === undefined || Partitioning.compareDeadLetterIds(after, d.id) < 0)
          .slice(0, Math.max(1, query.limit))
          .map(([part, d]) => toDeadLetterEntry(part, d))
        return { entries, nextAfter: entries.at(-1)?.id ?? after ?? "0-0" }
      })

    // The dead letter a public id names, if the log has it: a malformed id, or one naming a partition the log does
    // not have, names none.
    const locate = (id: string) => {
      const address = Partitioning.parseDeadLetterId(id)
      if (address === undefined) return undefined
      const part = parts[address.partition]
      const d = part?.dead.get(address.id)
      return part === undefined || d === undefined ? undefined : ([part, d] as const)
    }
    // Each id on its own, in the order given; "all": the stores as they are now.
    const select = (ids: ReadonlyArray<string> | "all") => (ids === "all" ? allDead().map(([, d]) => d.id) : ids)

    const redrive = (ids: ReadonlyArray<string> | "all") =>
      Effect.gen(function* () {
        yield* fault("redrive")
        const missing: Array<string> = []
        let moved = 0
        for (const id of select(ids)) {
          const found = locate(id)
          if (found === undefined) {
            missing.push(id)
            continue
          }
          const [part, d] = found
          part.dead.delete(d.local)
          push(part, part.bodies.get(d.entry.id)!, false)
          moved++
        }
        if (moved > 0) yield* notify
        return { count: moved, missing, skipped: [] } satisfies DeadLetterOutcome
      })

    const discard = (ids: ReadonlyArray<string> | "all") =>
      Effect.gen(function* () {
        yield* fault("discard")
        const missing: Array<string> = []
        let removed = 0
        for (const id of select(ids)) {
          const found = locate(id)
          if (found === undefined) {
            missing.push(id)
            continue
          }
          found[0].dead.delete(found[1].local)
          removed++
        }
        discarded += removed
        return { count: removed, missing, skipped: [] } satisfies DeadLetterOutcome
      })

    const sum = (f: (part: Partition) => number) => parts.reduce((total, part) => total + f(part), 0)

    const stats = Effect.gen(function* () {
      yield* fault("stats")
      return {
        received,
        lag: sum((p) => p.undelivered.length - p.head),
        pending: sum((p) => p.pending.size),
        deadLettered: sum((p) => p.dead.size),
        discarded
      }
    })

    const deliveryFloor = Effect.gen(function* () {
      yield* fault("stats")
      return parts
        .filter((part) => part.lastDelivered > 0)
        .map((part) => {
          let oldest = part.lastDelivered + 1
          for (const id of part.pending.keys()) oldest = Math.min(oldest, seqOf(id))
          return { stream: part.name, id: `${oldest}-0` }
        })
    })

    const consumers = Effect.gen(function* () {
      yield* fault("stats")
      const now = yield* Clock.currentTimeMillis
      const live = liveAt(now)
      const names = new Set([...live, ...parts.flatMap((part) => [...part.members])])
      const rows = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      return rows.map((name): ConsumerInfo => {
        const alive = (aliveUntil.get(name) ?? 0) > now
        let pending = 0
        let idleMs: number | undefined
        for (const part of parts) {
          for (const p of part.pending.values()) if (p.consumer === name) pending++
          const seen = part.members.has(name) ? part.seenAt.get(name) : undefined
          if (seen !== undefined) idleMs = Math.min(idleMs ?? Number.POSITIVE_INFINITY, Math.max(0, now - seen))
        }
        return {
          name,
          pending,
          idleMs: idleMs ?? 0,
          alive,
          partitions: alive ? Partitioning.share(name, live, count) : []
        }
      })
    })

    return {
      log: EventLog.of({
        append,
        read,
        ack,
        heartbeat,
        reclaim,
        deadLetter,
        deadLetters,
        redrive,
        discard,
        stats,
        consumers,
        deliveryFloor
      }),
      appendUndecodable: (reason, raw = { e: reason }) =>
        Effect.gen(function* () {
          const id = push(parts[0]!, { _tag: "Undecodable", reason, raw })
          yield* notify
          return id
        }),
      deadLetters: Effect.sync(() =>
        parts
          .flatMap((part) => [...part.dead.values()])
          .sort((a, b) => a.arrival - b.arrival)
          .map(({ id, entry, reason, deliveries }) => ({ id, entry, reason, deliveries }))
      ),
      consumers: Effect.sync(() => {
        const counts = new Map<string, number>()
        for (const part of parts) {
          for (const name of part.members) counts.set(name, counts.get(name) ?? 0)
          for (const p of part.pending.values()) counts.set(p.consumer, (counts.get(p.consumer) ?? 0) + 1)
        }
        return counts
      })
    }
  })

/** A layer with a fresh log. @category layers */
export const layer: Layer.Layer<EventLog> = Layer.effect(
  EventLog,
  Effect.map(make(), (m) => m.log)
)

/** A layer with a fresh log and options (e.g. a `fault`, or `partitions`). @category layers */
export const layerWith = (options: Options): Layer.Layer<EventLog> =>
  Layer.effect(
    EventLog,
    Effect.map(make(options), (m) => m.log)
  )
