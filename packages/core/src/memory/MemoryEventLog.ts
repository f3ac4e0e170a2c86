/**
 * An in-memory `EventLog` with the semantics of a Redis Stream read by one consumer group: entries are delivered
 * once in append order, then stay pending for the consumer that read them until acknowledged; `heartbeat` marks a
 * consumer alive until its ttl passes; `reclaim` hands entries idle for at least `minIdle` of consumers without a
 * live mark to another consumer (times measured with `Clock`, so `TestClock` drives them), increments their
 * delivery count and forgets dead consumers left with nothing pending; dead-lettered entries leave the pending
 * list and are counted, in a store capped at `deadLetterCap` (the oldest dropped, counted as discarded), from
 * which they are redriven (a new entry with the same body, `received` unchanged) or discarded.
 *
 * For tests and embedding; not durable. `make` also returns test controls (`appendUndecodable`, `deadLetters`,
 * `consumers`) and accepts a `fault` hook, so the port stays free of test-only members.
 */
import type { Event } from "@agg/schema"
import { Clock, Deferred, Duration, Effect, Layer } from "effect"
import {
  type DeadLetterEntry,
  type DeadLetterOutcome,
  defaultDeadLetterCap,
  type EntryRef,
  EventLog,
  type EventLogError,
  isBelow,
  type LogEntry,
  type ReclaimOptions,
  refKey
} from "../EventLog.ts"

/** Options of `make`. @category models */
export interface Options {
  /** The stream name its entries carry (`LogEntry.stream`). Default `"memory"`. */
  readonly stream?: string
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
  /** Most entries the dead-letter store holds; the oldest beyond are dropped and counted as discarded. */
  readonly deadLetterCap?: number
}

/** An entry in the dead-letter store. @category models */
export interface DeadLetter {
  /** Its id in the dead-letter store (what `redrive` and `discard` take). */
  readonly id: string
  readonly entry: LogEntry
  readonly reason: string
  readonly deliveries: number
}

/** The log plus the controls tests need. @category models */
export interface MemoryEventLog {
  readonly log: EventLog["Service"]
  /**
   * Append an entry that will not decode (as a foreign or corrupted write would), with the raw fields a listing
   * shows (default `{ e: reason }`); counted in `received`.
   */
  readonly appendUndecodable: (reason: string, raw?: Readonly<Record<string, string>>) => Effect.Effect<string>
  /** The dead-letter store, in the order entries arrived there. */
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter>>
  /** The group's consumers (those that read or claimed and were not removed), each with its pending count. */
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

/**
 * A fresh, empty log.
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<MemoryEventLog> =>
  Effect.gen(function* () {
    let seq = 0
    let received = 0
    const bodies = new Map<string, Body>()
    const undelivered: Array<string> = [] // FIFO of ids never delivered
    let head = 0 // undelivered[head..] are still waiting
    const pending = new Map<string, Pending>()
    const members = new Set<string>() // the group's consumers, as XINFO CONSUMERS would list them
    const aliveUntil = new Map<string, number>() // heartbeat marks: consumer -> expiry (ms)
    const seenAt = new Map<string, number>() // consumer -> when it last read or claimed (ms)
    // The dead-letter store in arrival order (a Map keeps insertion order), with when each arrived.
    const dead = new Map<string, DeadLetter & { readonly at: number }>()
    let deadSeq = 0
    let discarded = 0
    const cap = Math.max(1, options.deadLetterCap ?? defaultDeadLetterCap)
    let arrived = yield* Deferred.make<void>() // completed (and replaced) on every append
    const fault = options.fault ?? (() => Effect.void)
    const stream = options.stream ?? "memory"

    const toEntry = (id: string, deliveries: number): LogEntry => {
      const body = bodies.get(id)!
      return body._tag === "Event"
        ? { _tag: "Event", stream, id, deliveries, event: body.event }
        : { _tag: "Undecodable", stream, id, deliveries, reason: body.reason }
    }
    const seqOf = (id: string) => Number(id.slice(0, id.indexOf("-")))
    let lastDelivered = 0 // sequence number of the newest entry ever delivered

    // `counted`: a new event (in `received`); false for a redriven one, counted when it first came.
    const push = (body: Body, counted = true) => {
      const id = `${++seq}-0` // Redis-style ids, increasing
      bodies.set(id, body)
      undelivered.push(id)
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
        for (const event of events) push({ _tag: "Event", event })
        yield* notify
      })

    const take = (consumer: string, count: number, now: number): Array<LogEntry> => {
      const ids = undelivered.slice(head, head + count)
      head += ids.length
      if (head > 1024 && head * 2 > undelivered.length) {
        undelivered.splice(0, head) // compact now and then
        head = 0
      }
      members.add(consumer)
      seenAt.set(consumer, now)
      for (const id of ids) pending.set(id, { consumer, deliveredAt: now, deliveries: 1 })
      if (ids.length > 0) lastDelivered = seqOf(ids.at(-1)!)
      return ids.map((id) => toEntry(id, 1))
    }

    const read = (consumer: string, opts: { readonly count: number; readonly block: Duration.Duration }) =>
      Effect.gen(function* () {
        yield* fault("read")
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(opts.block)
        while (true) {
          const now = yield* Clock.currentTimeMillis
          if (head < undelivered.length) return take(consumer, Math.max(1, opts.count), now)
          if (now >= deadline) return []
          yield* Deferred.await(arrived).pipe(Effect.timeoutOption(Duration.millis(deadline - now)))
        }
      })

    const ack = (refs: ReadonlyArray<EntryRef>) =>
      Effect.gen(function* () {
        yield* fault("ack")
        for (const ref of refs) if (ref.stream === stream) pending.delete(ref.id)
      })

    const heartbeat = (consumer: string, ttl: Duration.Duration) =>
      Effect.gen(function* () {
        yield* fault("heartbeat")
        aliveUntil.set(consumer, (yield* Clock.currentTimeMillis) + Duration.toMillis(ttl))
      })

    const reclaim = (consumer: string, opts: ReclaimOptions) =>
      Effect.gen(function* () {
        yield* fault("reclaim")
        const now = yield* Clock.currentTimeMillis
        const minIdle = Duration.toMillis(opts.minIdle)
        const dead = (name: string) => name !== consumer && (aliveUntil.get(name) ?? 0) <= now
        for (const [name, until] of aliveUntil) if (until <= now) aliveUntil.delete(name) // expired marks go
        // Its own lost deliveries first (with `own`), then, in id order, the idle entries of dead consumers.
        const own = opts.own
        const lost = (id: string, p: Pending) =>
          own !== undefined &&
          p.consumer === consumer &&
          now - p.deliveredAt >= Duration.toMillis(own.minIdle) &&
          !own.held.has(refKey({ stream, id }))
        const byId = ([a]: [string, Pending], [b]: [string, Pending]) => seqOf(a) - seqOf(b)
        const idle = [
          ...[...pending.entries()].filter(([id, p]) => lost(id, p)).sort(byId),
          ...[...pending.entries()].filter(([, p]) => dead(p.consumer) && now - p.deliveredAt >= minIdle).sort(byId)
        ].slice(0, Math.max(1, opts.count))
        if (idle.length > 0) {
          members.add(consumer)
          seenAt.set(consumer, now)
        }
        const claimed = idle.map(([id, p]) => {
          p.consumer = consumer
          p.deliveredAt = now
          p.deliveries++
          return toEntry(id, p.deliveries)
        })
        const holding = new Set([...pending.values()].map((p) => p.consumer))
        for (const name of members) if (dead(name) && !holding.has(name)) members.delete(name)
        return claimed
      })

    const deadLetter = (entry: LogEntry, reason: string) =>
      Effect.gen(function* () {
        yield* fault("deadLetter")
        const p = pending.get(entry.id)
        // Only a pending entry can move: a second call, or a call for an acked entry, changes nothing.
        if (p === undefined) return
        pending.delete(entry.id)
        const id = `${++deadSeq}-0`
        dead.set(id, { id, entry, reason, deliveries: p.deliveries, at: yield* Clock.currentTimeMillis })
        for (const oldest of dead.keys()) {
          if (dead.size <= cap) break
          dead.delete(oldest)
          discarded++
        }
      })

    const toDeadLetterEntry = (d: DeadLetter & { readonly at: number }): DeadLetterEntry => {
      const body = bodies.get(d.entry.id)!
      return {
        id: d.id,
        entry: { stream, id: d.entry.id },
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

    const deadLetters = (query: { readonly after?: string; readonly limit: number }) =>
      Effect.gen(function* () {
        yield* fault("deadLetters")
        const after = query.after
        const entries = [...dead.values()]
          .filter((d) => after === undefined || isBelow(after, d.id))
          .slice(0, Math.max(1, query.limit))
          .map(toDeadLetterEntry)
        return { entries, nextAfter: entries.at(-1)?.id ?? after ?? "0-0" }
      })

    // Each id on its own, in the order given; "all": the store as it is now.
    const select = (ids: ReadonlyArray<string> | "all") => (ids === "all" ? [...dead.keys()] : ids)

    const redrive = (ids: ReadonlyArray<string> | "all") =>
      Effect.gen(function* () {
        yield* fault("redrive")
        const missing: Array<string> = []
        let count = 0
        for (const id of select(ids)) {
          const d = dead.get(id)
          if (d === undefined) {
            missing.push(id)
            continue
          }
          dead.delete(id)
          push(bodies.get(d.entry.id)!, false)
          count++
        }
        if (count > 0) yield* notify
        return { count, missing, skipped: [] } satisfies DeadLetterOutcome
      })

    const discard = (ids: ReadonlyArray<string> | "all") =>
      Effect.gen(function* () {
        yield* fault("discard")
        const missing: Array<string> = []
        let count = 0
        for (const id of select(ids)) {
          if (dead.delete(id)) count++
          else missing.push(id)
        }
        discarded += count
        return { count, missing, skipped: [] } satisfies DeadLetterOutcome
      })

    const stats = Effect.gen(function* () {
      yield* fault("stats")
      return {
        received,
        lag: undelivered.length - head,
        pending: pending.size,
        deadLettered: dead.size,
        discarded
      }
    })

    const deliveryFloor = Effect.gen(function* () {
      yield* fault("stats")
      if (lastDelivered === 0) return []
      let oldest = lastDelivered + 1
      for (const id of pending.keys()) oldest = Math.min(oldest, seqOf(id))
      return [{ stream, id: `${oldest}-0` }]
    })

    const consumers = Effect.gen(function* () {
      yield* fault("stats")
      const now = yield* Clock.currentTimeMillis
      const held = new Map<string, number>()
      for (const p of pending.values()) held.set(p.consumer, (held.get(p.consumer) ?? 0) + 1)
      return [...members].sort().map((name) => ({
        name,
        pending: held.get(name) ?? 0,
        idleMs: Math.max(0, now - (seenAt.get(name) ?? now)),
        alive: (aliveUntil.get(name) ?? 0) > now
      }))
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
          const id = push({ _tag: "Undecodable", reason, raw })
          yield* notify
          return id
        }),
      deadLetters: Effect.sync(() => [...dead.values()].map(({ at: _at, ...d }) => d)),
      consumers: Effect.sync(() => {
        const counts = new Map([...members].map((name) => [name, 0]))
        for (const p of pending.values()) counts.set(p.consumer, (counts.get(p.consumer) ?? 0) + 1)
        return counts
      })
    }
  })

/** A layer with a fresh log. @category layers */
export const layer: Layer.Layer<EventLog> = Layer.effect(
  EventLog,
  Effect.map(make(), (m) => m.log)
)

/** A layer with a fresh log and options (e.g. a `fault`). @category layers */
export const layerWith = (options: Options): Layer.Layer<EventLog> =>
  Layer.effect(
    EventLog,
    Effect.map(make(options), (m) => m.log)
  )
