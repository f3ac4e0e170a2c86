/**
 * Property tests of invariants 1–5 of docs/invariants.md on the in-memory ports, over random schedules: publishers
 * sending requests with duplicates, conflicting versions and retries; several consumers polling concurrently;
 * consumers crashing before or after their commit (never acking); reclaim after idle time on the TestClock; dead
 * letters of a topic the store rejects for a while, redriven (one or all) once it is lifted or not, and discarded
 * (one or all); a reader paging through topics while all this happens. Each schedule ends with a drain, then
 * everything is checked.
 */
import type { Event } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, References } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import * as Consumer from "../src/Consumer.ts"
import { EventLog, refKey } from "../src/EventLog.ts"
import { type Delivery, EventStore, EventStoreError } from "../src/EventStore.ts"
import * as Ingest from "../src/Ingest.ts"
import * as MemoryEventLog from "../src/memory/MemoryEventLog.ts"
import * as MemoryEventStore from "../src/memory/MemoryEventStore.ts"
import * as Stats from "../src/Stats.ts"

const NUM_RUNS = 1000
const TOPICS = ["a", "b", "c"] as const
const SLOTS = 3
const IDLE = 30_000

// ---- schedule model ----------------------------------------------------------------------------------------

/** An event as [topic index, id index, content variant]: few keys and two variants make duplicates and conflicts. */
type Spec = readonly [number, number, number]
type Step =
  | { readonly _tag: "publish"; readonly events: ReadonlyArray<Spec>; readonly retries: number }
  | { readonly _tag: "poll"; readonly slot: number }
  | { readonly _tag: "crash"; readonly slot: number; readonly when: "beforeCommit" | "afterCommit" }
  | { readonly _tag: "reclaim"; readonly slot: number }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "page"; readonly topic: number }
  | { readonly _tag: "redrive"; readonly which: "all" | number }
  | { readonly _tag: "reject"; readonly topic: number | null }
  | { readonly _tag: "discard"; readonly which: "all" | number }

const spec = fc.tuple(fc.nat(TOPICS.length - 1), fc.nat(5), fc.nat(1))
const slot = fc.nat(SLOTS - 1)
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("publish" as const),
      events: fc.array(spec, { minLength: 1, maxLength: 5 }),
      retries: fc.nat(2)
    })
  },
  { weight: 5, arbitrary: fc.record({ _tag: fc.constant("poll" as const), slot }) },
  {
    weight: 1,
    arbitrary: fc.record({
      _tag: fc.constant("crash" as const),
      slot,
      when: fc.constantFrom("beforeCommit" as const, "afterCommit" as const)
    })
  },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("reclaim" as const), slot }) },
  {
    weight: 1,
    arbitrary: fc.record({ _tag: fc.constant("advance" as const), millis: fc.integer({ min: 0, max: 40_000 }) })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("page" as const), topic: fc.nat(TOPICS.length - 1) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      _tag: fc.constant("reject" as const),
      topic: fc.option(fc.nat(TOPICS.length - 1), { nil: null })
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("redrive" as const),
      which: fc.oneof(fc.constant("all" as const), fc.nat(4))
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      _tag: fc.constant("discard" as const),
      which: fc.oneof(fc.constant("all" as const), fc.nat(4))
    })
  }
)
/** Rounds of steps; the steps of one round run concurrently. */
const schedule = fc.record({
  batchSize: fc.integer({ min: 1, max: 6 }),
  isolateAfter: fc.integer({ min: 1, max: 3 }),
  rounds: fc.array(fc.array(step, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 10 })
})
type Schedule = typeof schedule extends fc.Arbitrary<infer A> ? A : never

const keyOf = (e: Event) => `${e.topic}/${e.event_id}`

const toEvent = ([t, id, variant]: Spec): Event => ({
  topic: TOPICS[t]!,
  event_id: `id-${id}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "publisher",
  payload: { variant, nested: variant === 0 ? { x: 1, y: 2 } : { y: 2, x: 1, z: 3 } }
})

// ---- one run -----------------------------------------------------------------------------------------------

/**
 * One queued-mode schedule. With the default `maxDeliveries` nothing may be dead-lettered; with a small one,
 * crashes push entries over the limit: then no entry whose delivery was committed may be dead-lettered (it would
 * count twice), and an event may be missing from the store only if it was dead-lettered.
 */
const runSchedule = (s: Schedule, maxDeliveries = 1000) =>
  Effect.gen(function* () {
    const violations: Array<string> = []
    const memLog = yield* MemoryEventLog.make()
    const store = yield* MemoryEventStore.make()
    const committedDeliveries = new Set<string>()
    // The topic whose events the store refuses for now (non-retryably, as for a value it cannot take).
    let rejected: number | null = null

    // Invariant 5 probe: every acked entry's delivery must already be committed.
    const log = EventLog.of({
      ...memLog.log,
      ack: (refs) =>
        Effect.suspend(() => {
          for (const ref of refs) {
            if (!committedDeliveries.has(refKey(ref))) violations.push(`ack before commit of ${ref.id}`)
          }
          return memLog.log.ack(refs)
        })
    })
    const recordCommit = (batch: ReadonlyArray<Delivery>) =>
      Effect.tap(store.commit(batch), () =>
        Effect.sync(() => {
          for (const d of batch) if (d.deliveryId !== undefined) committedDeliveries.add(refKey(d.deliveryId))
        })
      )

    // Consumer slots: a crash kills the slot's current consumer at its next commit; the slot then restarts
    // under a new name, leaving the dead one's entries pending until reclaimed.
    const slots = Array.from({ length: SLOTS }, (_, i) => ({
      index: i,
      generation: 0,
      crash: undefined as undefined | "beforeCommit" | "afterCommit",
      consumer: undefined as undefined | Consumer.Consumer
    }))
    const consumerOf = (sl: (typeof slots)[number]) =>
      Effect.gen(function* () {
        if (sl.consumer !== undefined) return sl.consumer
        const crashing = EventStore.of({
          ...store,
          commit: (batch) =>
            Effect.suspend(() => {
              if (rejected !== null && batch.some((d) => d.event.topic === TOPICS[rejected!])) {
                return Effect.fail(
                  new EventStoreError({ operation: "commit", retryable: false, message: `topic ${rejected} rejected` })
                )
              }
              const crash = sl.crash
              sl.crash = undefined
              if (crash === "beforeCommit") return Effect.die("crash before commit")
              if (crash === "afterCommit") return Effect.andThen(recordCommit(batch), Effect.die("crash after commit"))
              return recordCommit(batch)
            })
        })
        const c = yield* Consumer.make({
          consumer: `c${sl.index}.${sl.generation}`,
          batchSize: s.batchSize,
          block: Duration.zero,
          reclaimIdle: Duration.millis(IDLE),
          isolateAfter: s.isolateAfter,
          maxDeliveries
        }).pipe(Effect.provide(Layer.mergeAll(Layer.succeed(EventLog, log), Layer.succeed(EventStore, crashing))))
        sl.consumer = c
        return c
      })
    const onCrash =
      (sl: (typeof slots)[number]) =>
      <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.catchDefect(Effect.asVoid(effect), () =>
          Effect.sync(() => {
            sl.consumer = undefined
            sl.generation++
          })
        )

    const ingest = yield* Effect.provide(
      Effect.service(Ingest.Ingest),
      Ingest.layerQueued.pipe(Layer.provide(Layer.succeed(EventLog, log)))
    )
    const published: Array<Event> = []
    // Keys of discarded dead letters: an event may be missing from the store only if it was discarded (or is dead).
    const discardedKeys = new Set<string>()
    let discardedCount = 0
    // The ids a redrive or discard step takes: all, or the n-th current dead letter (none when there is none).
    const pick = (which: "all" | number) =>
      Effect.map(memLog.deadLetters, (dead) => {
        if (which === "all") return { ids: "all" as const, chosen: dead }
        const chosen = dead.length === 0 ? [] : [dead[which % dead.length]!]
        return { ids: chosen.map((d) => d.id), chosen }
      })

    // A reader per topic, paging with `after` while everything runs.
    const readers = TOPICS.map(() => ({ after: 0, seen: [] as Array<number> }))
    const page = (t: number) =>
      Effect.gen(function* () {
        const r = readers[t]!
        const p = yield* store.read({ topic: TOPICS[t]!, after: r.after, limit: 2 })
        r.seen.push(...p.events.map((e) => e.offset))
        if (p.events.length > 0) r.after = p.events[p.events.length - 1]!.offset
      })

    const stats = Effect.gen(function* () {
      return Stats.fromQueued(yield* store.stats, yield* memLog.log.stats)
    })

    const runStep = (st: Step): Effect.Effect<void, unknown> => {
      switch (st._tag) {
        case "publish":
          return Effect.gen(function* () {
            const events = st.events.map(toEvent)
            for (let i = 0; i <= st.retries; i++) {
              yield* ingest.publish(events)
              published.push(...events)
            }
          })
        case "poll": {
          const sl = slots[st.slot]!
          return Effect.flatMap(consumerOf(sl), (c) => onCrash(sl)(c.poll))
        }
        case "reclaim": {
          const sl = slots[st.slot]!
          return Effect.flatMap(consumerOf(sl), (c) => onCrash(sl)(c.reclaim))
        }
        case "crash":
          return Effect.sync(() => {
            slots[st.slot]!.crash = st.when
          })
        case "advance":
          return TestClock.adjust(Duration.millis(st.millis))
        case "page":
          return page(st.topic)
        case "reject":
          return Effect.sync(() => {
            rejected = st.topic
          })
        case "redrive":
          return Effect.gen(function* () {
            const { ids, chosen } = yield* pick(st.which)
            const outcome = yield* log.redrive(ids)
            if (outcome.count !== chosen.length) violations.push(`redrove ${outcome.count} of ${chosen.length}`)
          })
        case "discard":
          return Effect.gen(function* () {
            const { ids, chosen } = yield* pick(st.which)
            const outcome = yield* log.discard(ids)
            if (outcome.count !== chosen.length) violations.push(`discarded ${outcome.count} of ${chosen.length}`)
            discardedCount += outcome.count
            for (const d of chosen) if (d.entry._tag === "Event") discardedKeys.add(keyOf(d.entry.event))
          })
      }
    }

    for (const round of s.rounds) {
      yield* Effect.all(round.map(runStep), { concurrency: "unbounded", discard: true })
      const now = yield* stats
      // Nothing lost (every uncounted entry is still lag or pending) and nothing counted twice.
      if (Stats.imbalance(now) > 0) violations.push(`lost events: ${Stats.violations(now).join("; ")}`)
      if (now.unique_processed + now.duplicate_dropped + now.dead_lettered + now.discarded > now.received)
        violations.push(`counted twice: ${JSON.stringify(now)}`)
    }

    // Drain: dead consumers' entries become idle, a healthy consumer takes everything over.
    yield* TestClock.adjust(Duration.millis(IDLE))
    for (const sl of slots) sl.crash = undefined
    // The cause is fixed: every dead letter is redriven and must now commit (exactly once, as any entry).
    rejected = null
    yield* log.redrive("all")
    const drain = slots[0]!
    for (let i = 0; i < 1000; i++) {
      const c = yield* consumerOf(drain)
      yield* onCrash(drain)(c.reclaim)
      yield* onCrash(drain)(c.poll)
      const now = yield* memLog.log.stats
      if (now.lag + now.pending === 0) break
    }
    for (let t = 0; t < TOPICS.length; t++) {
      let before = -1
      while (readers[t]!.seen.length !== before) {
        before = readers[t]!.seen.length
        yield* page(t)
      }
    }

    // ---- checks ----
    const final = yield* stats
    violations.push(...Stats.violations(final)) // invariant 3: exact stats at a quiet point
    if (final.pending !== 0) violations.push(`pending after drain: ${final.pending}`)
    if (final.received !== published.length) violations.push(`received ${final.received} != ${published.length}`)
    const dead = yield* memLog.deadLetters
    if (maxDeliveries >= 1000 && final.dead_lettered !== 0) violations.push(`dead-lettered ${final.dead_lettered}`)
    // invariant 3/5: a dead-lettered entry was never committed (else it counts as processed and as dead-lettered)
    for (const d of dead)
      if (committedDeliveries.has(refKey(d.entry))) violations.push(`${d.entry.id} dead after commit`)
    if (final.discarded !== discardedCount) violations.push(`discarded ${final.discarded} != ${discardedCount}`)
    const variantsByKey = new Map<string, Set<number>>()
    for (const e of published) {
      const set = variantsByKey.get(keyOf(e)) ?? new Set()
      set.add(e.payload["variant"] as number)
      variantsByKey.set(keyOf(e), set)
    }
    const storedVariant = new Map<string, number>()
    for (let t = 0; t < TOPICS.length; t++) {
      const { events } = yield* store.read({ topic: TOPICS[t]!, after: 0, limit: 1000 })
      // invariant 4: offsets are exactly 1..count
      const offsets = events.map((e) => e.offset)
      if (offsets.some((o, i) => o !== i + 1)) violations.push(`topic ${TOPICS[t]} offsets ${offsets}`)
      // invariant 4: the concurrent reader saw each offset once, in order, nothing missed
      const seen = readers[t]!.seen
      if (seen.join() !== offsets.join()) violations.push(`reader of ${TOPICS[t]} saw ${seen} of ${offsets}`)
      for (const e of events) {
        // invariant 2: at most one row per key
        if (storedVariant.has(keyOf(e))) violations.push(`${keyOf(e)} stored twice`)
        storedVariant.set(keyOf(e), e.payload["variant"] as number)
        if (!variantsByKey.get(keyOf(e))?.has(e.payload["variant"] as number))
          violations.push(`${keyOf(e)} unknown content`)
      }
    }
    // invariant 1: every accepted event is stored, or (with a small maxDeliveries) was dead-lettered and counted
    const deadKeys = new Set(dead.flatMap((d) => (d.entry._tag === "Event" ? [keyOf(d.entry.event)] : [])))
    for (const key of variantsByKey.keys())
      if (!storedVariant.has(key) && !deadKeys.has(key) && !discardedKeys.has(key)) violations.push(`${key} lost`)
    if (dead.length === 0 && discardedCount === 0) {
      if (final.unique_processed !== variantsByKey.size)
        violations.push(`unique ${final.unique_processed} != ${variantsByKey.size}`)
      // conflicts: exactly the accepted events whose content differs from the stored (first) version
      const expectedConflicts = published.filter((e) => e.payload["variant"] !== storedVariant.get(keyOf(e))).length
      if (final.conflicts !== expectedConflicts) violations.push(`conflicts ${final.conflicts} != ${expectedConflicts}`)
    }
    return violations
  })

// Direct (embedded) mode: concurrent requests through the group commit.
const directSchedule = fc.record({
  maxEvents: fc.integer({ min: 1, max: 8 }),
  concurrency: fc.integer({ min: 1, max: 3 }),
  requests: fc.array(fc.array(spec, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 })
})
type DirectSchedule = typeof directSchedule extends fc.Arbitrary<infer A> ? A : never

const runDirect = (s: DirectSchedule) =>
  Effect.gen(function* () {
    const violations: Array<string> = []
    const store = yield* MemoryEventStore.make()
    const layer = Ingest.layerDirect({ maxEvents: s.maxEvents, concurrency: s.concurrency, capacity: 10_000 }).pipe(
      Layer.provide(Layer.succeed(EventStore, store))
    )
    const answers = yield* Effect.gen(function* () {
      const ingest = yield* Ingest.Ingest
      return yield* Effect.forEach(s.requests, (r) => ingest.publish(r.map(toEvent)), { concurrency: "unbounded" })
    }).pipe(Effect.provide(layer))
    const stats = Stats.fromDirect(yield* store.stats)
    violations.push(...Stats.violations(stats))
    const total = s.requests.reduce((n, r) => n + r.length, 0)
    if (stats.received !== total) violations.push(`received ${stats.received} != ${total}`)
    const answeredUnique = answers.reduce((n, a) => n + (a.unique ?? 0), 0)
    if (answeredUnique !== stats.unique_processed) violations.push(`answers say ${answeredUnique} unique`)
    const keys = new Set(s.requests.flat().map(([t, id]) => `${t}/${id}`))
    if (stats.unique_processed !== keys.size) violations.push(`unique ${stats.unique_processed} != ${keys.size}`)
    for (const topic of TOPICS) {
      const { events } = yield* store.read({ topic, after: 0, limit: 1000 })
      if (events.some((e, i) => e.offset !== i + 1)) violations.push(`topic ${topic} has gaps`)
    }
    return violations
  })

const check = <S>(arbitrary: fc.Arbitrary<S>, run: (s: S) => Effect.Effect<Array<string>, unknown, never>) =>
  Effect.promise(() =>
    fc.assert(
      fc.asyncProperty(arbitrary, async (s) => {
        // Dead-lettering warns; the schedules make many on purpose.
        const quiet = Layer.succeed(References.MinimumLogLevel, "Error")
        const violations = await Effect.runPromise(
          Effect.scoped(run(s)).pipe(Effect.provide(Layer.mergeAll(TestClock.layer(), quiet)))
        )
        assert.deepStrictEqual(violations, [])
      }),
      { numRuns: NUM_RUNS }
    )
  )

describe("invariants 1–5 on the memory ports (property-based)", () => {
  it.live(`queued mode: publishers, concurrent consumers, crashes, reclaim (${NUM_RUNS} schedules)`, () =>
    check(schedule, runSchedule)
  )
  it.live(`queued mode with maxDeliveries 1–3: dead-letters, never one already committed (${NUM_RUNS} schedules)`, () =>
    check(fc.tuple(schedule, fc.integer({ min: 1, max: 3 })), ([s, maxDeliveries]) => runSchedule(s, maxDeliveries))
  )
  it.live(`direct mode: concurrent requests through the group commit (${NUM_RUNS} schedules)`, () =>
    check(directSchedule, runDirect)
  )
})
