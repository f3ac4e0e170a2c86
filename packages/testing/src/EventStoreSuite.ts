/**
 * The contract suite of the `EventStore` port, run against every implementation (memory in @agg/core, PostgreSQL
 * and PGlite in @agg/storage). It checks the semantics the port documents: outcomes, in-batch duplicates, content
 * comparison independent of payload key order, redelivered delivery ids and the `committed` lookup, gap-free
 * offsets, paging (also of all topics while commits run), stats.
 *
 * Every test uses its own random topic names and delivery ids, so the suite runs on one shared store (a real
 * database) without cleaning up, and tolerates events written by other tests. It does not test adapter-specific
 * failure mapping (connection loss, SQLSTATE classification): that belongs to each adapter's own tests.
 */
import { EventLog, EventStore as Store } from "@agg/core"
import type { Event, StoredEvent } from "@agg/schema"
import { assert, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, type Layer, Option, Schedule } from "effect"

type Delivery = Store.Delivery
type Outcome = Store.Outcome
const EventStore = Store.EventStore
type EventStore = Store.EventStore

const suffix = () => Math.random().toString(36).slice(2, 10)

/** A fresh topic name, unique to the calling test. */
export const freshTopic = (label: string) => `suite.${label}.${suffix()}`

let refSeq = 0
/**
 * A broker entry no earlier run can have committed: a fresh stream name and a Redis-style `<ms>-<seq>` id (or the
 * given one, to put two entries with the same raw id on different streams).
 * @category testing
 */
export const freshRef = (id = `${Date.now()}-${refSeq++}`): EventLog.EntryRef => ({ stream: `suite.${suffix()}`, id })

/** A valid event (timestamp already normalized, as the schema would). */
export const makeEvent = (topic: string, eventId: string, payload: Record<string, unknown> = { n: 1 }): Event => ({
  topic,
  event_id: eventId,
  timestamp: "2026-11-21T10:00:00.123Z",
  source: "suite",
  payload
})

const direct = (events: ReadonlyArray<Event>): Array<Delivery> => events.map((event) => ({ event }))
const tags = (outcomes: ReadonlyArray<Outcome>) => outcomes.map((o) => o._tag)
const offsets = (outcomes: ReadonlyArray<Outcome>) => outcomes.map((o) => (o._tag === "New" ? o.offset : null))

const topicStats = (topic: string) =>
  Effect.gen(function* () {
    const stats = yield* (yield* EventStore).stats
    return stats.topics.find((t) => t.topic === topic)
  })

const readAllOfTopic = (topic: string) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const out: Array<StoredEvent> = []
    for (let after = 0; ; ) {
      const page: Store.Page = yield* store.read({ topic, after, limit: 3 })
      out.push(...page.events)
      if (page.events.length < 3) return out
      after = page.nextAfter
    }
  })

const rowKey = (e: StoredEvent) => `${e.topic}\u0000${e.event_id}\u0000${e.offset}`

/**
 * A reader of all topics that keeps its place between polls, as a client tailing GET /events would: it follows
 * `nextAfter` across full pages and, after a page that was not full (`nextAfter` null), reads from the same
 * cursor again next time, where the rows it already got must come back first, unchanged: a later commit may add
 * rows only after every row a read returned. `poll` returns the rows no earlier poll returned, in order.
 * @category testing
 */
export const allTopicsReader = (limit: number) => {
  let after = 0
  const poll = Effect.gen(function* () {
    const store = yield* EventStore
    const fresh: Array<StoredEvent> = []
    for (;;) {
      const page: Store.Page = yield* store.read({ after, limit })
      let last = after
      for (const e of page.events) {
        assert.isDefined(e.position, "an all-topics read gives each event its position")
        assert.isAbove(e.position!, last, "positions rise strictly, and only past the cursor")
        last = e.position!
      }
      assert.strictEqual(page.nextAfter, last, "nextAfter is the last position, or the cursor on an empty page")
      fresh.push(...page.events)
      after = page.nextAfter
      if (page.events.length < limit) return fresh
    }
  })
  return { poll }
}

/**
 * Register the `EventStore` contract tests under `name`. `storeLayer` is built once for the whole block and may
 * be shared with other tests and files (a real database).
 * @category testing
 */
export const eventStoreSuite = (name: string, storeLayer: Layer.Layer<EventStore, unknown>): void =>
  layer(storeLayer, { timeout: "60 seconds", excludeTestServices: true })(`EventStore contract: ${name}`, (it) => {
    it.effect("new events get offsets 1..n per topic, in input order", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const a = freshTopic("a")
        const b = freshTopic("b")
        const out = yield* store.commit(
          direct([makeEvent(a, "1"), makeEvent(b, "1"), makeEvent(a, "2"), makeEvent(a, "3"), makeEvent(b, "2")])
        )
        assert.deepStrictEqual(tags(out), ["New", "New", "New", "New", "New"])
        assert.deepStrictEqual(offsets(out), [1, 1, 2, 3, 2])
      })
    )

    it.effect("an empty batch commits nothing", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const before = yield* store.stats
        assert.deepStrictEqual(yield* store.commit([]), [])
        const after = yield* store.stats
        assert.isAtLeast(after.unique, before.unique)
        assert.isAtLeast(after.topics.length, before.topics.length)
      })
    )

    it.effect("a stored key with the same content is a duplicate; with other content a conflict (first wins)", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("dup")
        yield* store.commit(direct([makeEvent(t, "x", { v: 1 })]))
        const out = yield* store.commit(
          direct([
            makeEvent(t, "x", { v: 1 }),
            makeEvent(t, "x", { v: 2 }),
            { ...makeEvent(t, "x", { v: 1 }), source: "other" },
            { ...makeEvent(t, "x", { v: 1 }), timestamp: "2026-11-21T10:00:01.000Z" }
          ])
        )
        assert.deepStrictEqual(tags(out), ["Duplicate", "Conflict", "Conflict", "Conflict"])
        const stored = yield* readAllOfTopic(t)
        assert.strictEqual(stored.length, 1)
        assert.deepStrictEqual(stored[0]!.payload, { v: 1 })
        assert.strictEqual(stored[0]!.source, "suite")
        assert.deepStrictEqual(yield* topicStats(t), { topic: t, unique: 1, duplicates: 4, conflicts: 3 })
      })
    )

    it.effect("duplicates inside one batch: the first occurrence wins", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("inbatch")
        const out = yield* store.commit(
          direct([
            makeEvent(t, "k", { v: 1 }),
            makeEvent(t, "k", { v: 1 }),
            makeEvent(t, "k", { v: 9 }),
            makeEvent(t, "m")
          ])
        )
        assert.deepStrictEqual(tags(out), ["New", "Duplicate", "Conflict", "New"])
        assert.deepStrictEqual(offsets(out), [1, null, null, 2])
        const stored = yield* readAllOfTopic(t)
        assert.deepStrictEqual(
          stored.map((e) => [e.event_id, e.offset, e.payload]),
          [
            ["k", 1, { v: 1 }],
            ["m", 2, { n: 1 }]
          ]
        )
        assert.deepStrictEqual(yield* topicStats(t), { topic: t, unique: 2, duplicates: 2, conflicts: 1 })
      })
    )

    it.effect("payload key order does not matter", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("order")
        yield* store.commit(direct([makeEvent(t, "p", { a: 1, b: { c: [1, { x: 1, y: 2 }], d: "s" } })]))
        const out = yield* store.commit(direct([makeEvent(t, "p", { b: { d: "s", c: [1, { y: 2, x: 1 }] }, a: 1 })]))
        assert.deepStrictEqual(tags(out), ["Duplicate"])
        const swapped = yield* store.commit(
          direct([makeEvent(t, "p", { a: 1, b: { c: [{ x: 1, y: 2 }, 1], d: "s" } })])
        )
        assert.deepStrictEqual(tags(swapped), ["Conflict"], "array order does matter")
      })
    )

    it.effect("a redelivered delivery id is recognised and not counted again", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("redeliver")
        const id1 = freshRef()
        const id2 = freshRef()
        const id3 = freshRef()
        const first = yield* store.commit([
          { deliveryId: id1, event: makeEvent(t, "a") },
          { deliveryId: id2, event: makeEvent(t, "a") }
        ])
        assert.deepStrictEqual(tags(first), ["New", "Duplicate"])
        const before = yield* topicStats(t)
        const again = yield* store.commit([
          { deliveryId: id1, event: makeEvent(t, "a") },
          { deliveryId: id2, event: makeEvent(t, "a") },
          { deliveryId: id3, event: makeEvent(t, "b") }
        ])
        assert.deepStrictEqual(tags(again), ["Redelivered", "Redelivered", "New"])
        assert.deepStrictEqual(offsets(again), [null, null, 2])
        assert.deepStrictEqual(yield* topicStats(t), { ...before!, unique: 2 })
        assert.deepStrictEqual(before, { topic: t, unique: 1, duplicates: 1, conflicts: 0 })
      })
    )

    it.effect("committed tells which delivery ids belong to committed batches, and changes nothing", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("committed")
        const [dup, fresh, other, unknown] = [freshRef(), freshRef(), freshRef(), freshRef()]
        assert.deepStrictEqual([...(yield* store.committed([]))], [])
        assert.deepStrictEqual([...(yield* store.committed([fresh, unknown]))], [], "nothing committed yet")
        yield* store.commit([
          { deliveryId: fresh, event: makeEvent(t, "a") },
          { deliveryId: dup, event: makeEvent(t, "a") } // a duplicate's delivery is committed too
        ])
        yield* store.commit([{ deliveryId: fresh, event: makeEvent(t, "a") }]) // redelivery: still one record
        yield* store.commit(direct([makeEvent(t, "b")])) // direct mode records no id
        const before = yield* topicStats(t)
        const answer = yield* store.committed([unknown, dup, fresh, other, fresh])
        assert.deepStrictEqual([...answer].sort(), [dup, fresh].map(EventLog.refKey).sort())
        assert.deepStrictEqual(yield* topicStats(t), before, "a lookup counts nothing")
        // A delivery the lookup did not know about still commits as new afterwards.
        const out = yield* store.commit([{ deliveryId: unknown, event: makeEvent(t, "c") }])
        assert.deepStrictEqual(tags(out), ["New"])
        assert.deepStrictEqual([...(yield* store.committed([unknown]))], [EventLog.refKey(unknown)])
      })
    )

    it.effect("forget drops records below the floor (ids as numbers) and older than the margin, nothing else", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("forget")
        const mine = freshRef()
        const ref = (id: string) => ({ stream: mine.stream, id })
        const other = freshRef("5-1")
        const refs = [ref("5-9"), ref("5-10"), ref("6-0"), other]
        yield* store.commit(refs.map((r, i) => ({ deliveryId: r, event: makeEvent(t, `e${i}`) })))
        const remembered = Effect.map(store.committed(refs), (keys) => [...keys].sort())
        assert.strictEqual(yield* store.forget(ref("7-0"), { olderThan: Duration.hours(1) }), 0, "inside the margin")
        // As text "5-10" < "5-9"; as numbers only 5-9 is below 5-10.
        assert.strictEqual(yield* store.forget(ref("5-10"), { olderThan: Duration.zero }), 1)
        assert.deepStrictEqual(yield* remembered, [ref("5-10"), ref("6-0"), other].map(EventLog.refKey).sort())
        // A redelivery at or above the floor is still recognised.
        assert.deepStrictEqual(tags(yield* store.commit([{ deliveryId: ref("5-10"), event: makeEvent(t, "e1") }])), [
          "Redelivered"
        ])
        assert.strictEqual(yield* store.forget(ref("9-0"), { olderThan: Duration.zero }), 2)
        assert.deepStrictEqual(yield* remembered, [EventLog.refKey(other)], "another stream's records stay")
        assert.deepStrictEqual(yield* topicStats(t), { topic: t, unique: 4, duplicates: 0, conflicts: 0 })
      })
    )

    it.effect("lookup gives the stored version of a key, whatever its characters, or none", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("lookup/é %2F")
        yield* store.commit(direct([makeEvent(t, "a/b %20ü", { v: 1 }), makeEvent(t, "a/b %20ü", { v: 2 })]))
        const found = yield* store.lookup({ topic: t, event_id: "a/b %20ü" })
        assert.isTrue(Option.isSome(found))
        const e = Option.getOrThrow(found)
        assert.deepStrictEqual([e.event_id, e.offset, e.payload], ["a/b %20ü", 1, { v: 1 }], "the first version")
        assert.isTrue(Option.isNone(yield* store.lookup({ topic: t, event_id: "missing" })))
        assert.isTrue(Option.isNone(yield* store.lookup({ topic: freshTopic("none"), event_id: "a/b %20ü" })))
      })
    )

    it.effect("conflicts keeps the rejected versions (the first 10 per key, all counted), paged by position", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("conflicts")
        const u = freshTopic("conflicts-other")
        yield* store.commit(direct([makeEvent(t, "x", { v: 0 }), makeEvent(u, "y", { v: 0 })]))
        const start = (yield* store.conflicts({ after: 0, limit: 1000 })).nextAfter
        // 12 rejected versions of t/x (two commits), 1 of u/y, and same-content duplicates that are not conflicts.
        yield* store.commit(direct(Array.from({ length: 7 }, (_, i) => makeEvent(t, "x", { v: i + 1 }))))
        yield* store.commit(
          direct([
            makeEvent(t, "x", { v: 0 }),
            ...Array.from({ length: 5 }, (_, i) => makeEvent(t, "x", { v: i + 8 })),
            makeEvent(u, "y", { v: 1 })
          ])
        )
        const page1 = yield* store.conflicts({ topic: t, after: 0, limit: 4 })
        const page2 = yield* store.conflicts({ topic: t, after: page1.nextAfter, limit: 100 })
        const mine = [...page1.conflicts, ...page2.conflicts]
        assert.deepStrictEqual(
          mine.map((c) => [c.event_id, c.version, c.payload["v"], c.rejected, c.stored_offset]),
          Array.from({ length: 10 }, (_, i) => ["x", i + 1, i + 1, 12, 1]),
          "the first 10 kept, each with the key's total of 12"
        )
        assert.strictEqual(page1.nextAfter, page1.conflicts.at(-1)!.position)
        assert.deepStrictEqual(yield* store.conflicts({ topic: t, after: page2.nextAfter, limit: 10 }), {
          conflicts: [],
          nextAfter: page2.nextAfter
        })
        const all = yield* store.conflicts({ after: start, limit: 1000 })
        const ours = all.conflicts.filter((c) => c.topic === t || c.topic === u)
        assert.strictEqual(ours.length, 11)
        assert.deepStrictEqual(ours.at(-1)!.topic, u)
        for (const [i, c] of all.conflicts.entries()) {
          if (i > 0) assert.isAbove(c.position, all.conflicts[i - 1]!.position, "positions rise")
          assert.isFalse(Number.isNaN(Date.parse(c.seen_at)))
        }
        assert.deepStrictEqual(yield* topicStats(t), { topic: t, unique: 1, duplicates: 13, conflicts: 12 })
      })
    )

    it.effect("cursorAt gives the cursor before the first event received at or after a time", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("since")
        yield* store.commit(direct([makeEvent(t, "1"), makeEvent(t, "2")]))
        const [first] = (yield* store.read({ topic: t, after: 0, limit: 1 })).events
        const at = first!.received_at
        assert.strictEqual(yield* store.cursorAt({ topic: t, since: at }), 0, "from the first event")
        const later = new Date(Date.parse(at) + 1).toISOString()
        assert.strictEqual(yield* store.cursorAt({ topic: t, since: later }), 2, "nothing yet: the end")
        assert.strictEqual(yield* store.cursorAt({ topic: freshTopic("none"), since: at }), 0)
        const all = yield* store.cursorAt({ since: at })
        const page = yield* store.read({ after: all, limit: 1000 })
        assert.isTrue(
          page.events.some((e) => e.topic === t && e.event_id === "1"),
          "an all-topics read from the cursor includes the event"
        )
        const end = yield* store.cursorAt({ since: "9999-01-01T00:00:00Z" })
        assert.deepStrictEqual((yield* store.read({ after: end, limit: 10 })).events, [], "the end of the log")
      })
    )

    it.effect("the same delivery id twice in one batch counts once", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("samebatch")
        const id = freshRef()
        const out = yield* store.commit([
          { deliveryId: id, event: makeEvent(t, "a") },
          { deliveryId: id, event: makeEvent(t, "a") }
        ])
        assert.deepStrictEqual(tags(out), ["New", "Redelivered"])
        assert.deepStrictEqual(yield* topicStats(t), { topic: t, unique: 1, duplicates: 0, conflicts: 0 })
      })
    )

    it.effect("entries with the same raw id on different streams are different deliveries", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("streams")
        const [p0, p1] = [freshRef("1700000000000-0"), freshRef("1700000000000-0")]
        const first = yield* store.commit([{ deliveryId: p0, event: makeEvent(t, "a") }])
        const second = yield* store.commit([{ deliveryId: p1, event: makeEvent(t, "b") }])
        assert.deepStrictEqual([...tags(first), ...tags(second)], ["New", "New"], "the second is not a redelivery")
        assert.deepStrictEqual(
          [...(yield* store.committed([p0, p1, { stream: p0.stream, id: "1700000000000-1" }]))].sort(),
          [p0, p1].map(EventLog.refKey).sort()
        )
        assert.deepStrictEqual(yield* topicStats(t), { topic: t, unique: 2, duplicates: 0, conflicts: 0 })
      })
    )

    it.effect("offsets stay gap-free across batches with duplicates", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("gapfree")
        const o1 = yield* store.commit(direct([makeEvent(t, "1"), makeEvent(t, "2")]))
        const o2 = yield* store.commit(direct([makeEvent(t, "2"), makeEvent(t, "3"), makeEvent(t, "1")]))
        const o3 = yield* store.commit(direct([makeEvent(t, "4"), makeEvent(t, "4"), makeEvent(t, "5")]))
        assert.deepStrictEqual([...offsets(o1), ...offsets(o2), ...offsets(o3)], [1, 2, null, 3, null, 4, null, 5])
        const stored = yield* readAllOfTopic(t)
        assert.deepStrictEqual(
          stored.map((e) => [e.offset, e.event_id]),
          [
            [1, "1"],
            [2, "2"],
            [3, "3"],
            [4, "4"],
            [5, "5"]
          ]
        )
      })
    )

    it.effect("concurrent commits to one topic get distinct, gap-free offsets, increasing within each batch", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("concurrent")
        const results = yield* Effect.forEach(
          Array.from({ length: 8 }, (_, b) => b),
          (b) =>
            store.commit(
              direct(Array.from({ length: 5 }, (_, i) => makeEvent(t, `b${b}-${i}`)).concat([makeEvent(t, "shared")]))
            ),
          { concurrency: "unbounded" }
        )
        const all = results.flatMap((out) => offsets(out).filter((o): o is number => o !== null))
        assert.deepStrictEqual(
          [...all].sort((x, y) => x - y),
          Array.from({ length: 41 }, (_, i) => i + 1)
        )
        for (const out of results) {
          const own = offsets(out).filter((o): o is number => o !== null)
          assert.deepStrictEqual(
            own,
            [...own].sort((x, y) => x - y)
          )
        }
        assert.strictEqual(results.filter((out) => out[5]!._tag === "New").length, 1, "one 'shared' is new")
      })
    )

    it.effect("read by topic pages with after/limit and nextAfter", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("paging")
        yield* store.commit(direct(Array.from({ length: 5 }, (_, i) => makeEvent(t, `e${i + 1}`, { i }))))
        const p1 = yield* store.read({ topic: t, after: 0, limit: 2 })
        assert.deepStrictEqual(
          p1.events.map((e) => e.offset),
          [1, 2]
        )
        assert.strictEqual(p1.nextAfter, 2)
        const p2 = yield* store.read({ topic: t, after: 2, limit: 2 })
        assert.deepStrictEqual(
          p2.events.map((e) => e.event_id),
          ["e3", "e4"]
        )
        assert.strictEqual(p2.nextAfter, 4)
        const p3 = yield* store.read({ topic: t, after: 4, limit: 2 })
        assert.deepStrictEqual(
          p3.events.map((e) => e.offset),
          [5]
        )
        assert.strictEqual(p3.nextAfter, 5, "a short page still gives the cursor: its last offset")
        const full = yield* store.read({ topic: t, after: 0, limit: 5 })
        assert.strictEqual(full.events.length, 5)
        const e = full.events[2]!
        assert.deepStrictEqual(
          { topic: e.topic, event_id: e.event_id, timestamp: e.timestamp, source: e.source, payload: e.payload },
          makeEvent(t, "e3", { i: 2 })
        )
        assert.isFalse(Number.isNaN(Date.parse(e.received_at)), "received_at is a timestamp")
        const beyond = yield* store.read({ topic: t, after: 5, limit: 5 })
        assert.deepStrictEqual(beyond, { events: [], nextAfter: 5 }, "an empty page gives back the cursor")
        const unknown = yield* store.read({ topic: freshTopic("none"), after: 3, limit: 5 })
        assert.deepStrictEqual(unknown, { events: [], nextAfter: 3 })
        yield* store.commit(direct([makeEvent(t, "e6")]))
        const tail = yield* store.read({ topic: t, after: beyond.nextAfter, limit: 5 })
        assert.deepStrictEqual(
          [tail.events.map((e) => e.event_id), tail.nextAfter],
          [["e6"], 6],
          "a reader passing nextAfter back tails the topic"
        )
      })
    )

    it.effect("read without topic pages through all topics in storage (commit) order", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const a = freshTopic("all-a")
        const b = freshTopic("all-b")
        yield* store.commit(direct([makeEvent(b, "1"), makeEvent(a, "1")]))
        yield* store.commit(direct([makeEvent(a, "2"), makeEvent(a, "1"), makeEvent(b, "2")]))
        const seen: Array<StoredEvent> = []
        let after = 0
        let pages = 0
        for (;;) {
          const page: Store.Page = yield* store.read({ after, limit: 4 })
          assert.isAtMost(page.events.length, 4)
          assert.isAtLeast(page.nextAfter, after, "nextAfter never moves back")
          seen.push(...page.events)
          after = page.nextAfter
          pages++
          if (page.events.length < 4) break
        }
        assert.isAtLeast(pages, 2)
        const ours = seen
          .filter((e) => e.topic === a || e.topic === b)
          .map((e) => `${e.topic === a ? "a" : "b"}${e.event_id}`)
        assert.deepStrictEqual(ours, ["b1", "a1", "a2", "b2"])
        const keys = seen.map((e) => `${e.topic}\u0000${e.event_id}`)
        assert.strictEqual(new Set(keys).size, keys.length, "no event twice across pages")
      })
    )

    it.effect("a reader paging all topics while commits run sees every committed event exactly once", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const own = Array.from({ length: 4 }, (_, c) => freshTopic(`tail${c}`))
        const shared = freshTopic("tail-shared")
        const reader = allTopicsReader(7)
        const seen: Array<StoredEvent> = []
        // Start from the current end of the store, so only this test's commits are in flight below.
        seen.push(...(yield* reader.poll))
        const start = seen.length

        const done = yield* Deferred.make<void>()
        const tailing = yield* Effect.forkChild(
          Effect.gen(function* () {
            while (!(yield* Deferred.isDone(done))) {
              seen.push(...(yield* reader.poll))
              yield* Effect.yieldNow
            }
          })
        )
        // Four committers, each on its own topic, every third batch also on a shared one (commits that wait on
        // each other's topic lock).
        const outcomes = yield* Effect.forEach(
          own,
          (topic, c) =>
            Effect.forEach(
              Array.from({ length: 12 }, (_, b) => b),
              (b) => {
                const events = Array.from({ length: 1 + (b % 4) }, (_, i) => makeEvent(topic, `${c}-${b}-${i}`))
                if (b % 3 === 0) events.unshift(makeEvent(shared, `${c}-${b}`))
                return store.commit(direct(events)).pipe(Effect.map((o) => ({ events, o })))
              }
            ),
          { concurrency: "unbounded" }
        )
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(tailing)

        const expected = new Set<string>()
        for (const { events, o } of outcomes.flat()) {
          for (const [i, e] of events.entries()) {
            const outcome = o[i]!
            assert.strictEqual(outcome._tag, "New")
            if (outcome._tag === "New") expected.add(`${e.topic}\u0000${e.event_id}\u0000${outcome.offset}`)
          }
        }
        const ours = () => seen.slice(start).filter((e) => e.topic === shared || own.includes(e.topic))
        // A commit shows in all-topics reads once no older writer is still running: poll until everything shows.
        yield* reader.poll.pipe(
          Effect.flatMap((rows) => {
            seen.push(...rows)
            return ours().length >= expected.size ? Effect.void : Effect.fail("not all commits visible yet" as const)
          }),
          Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
        )
        const keys = ours().map(rowKey)
        assert.strictEqual(new Set(keys).size, keys.length, "no event twice")
        assert.sameMembers(keys, [...expected], "every committed event, and only those")
        const all = seen.map(rowKey)
        assert.strictEqual(new Set(all).size, all.length, "no row twice across polls")
      })
    )

    it.effect("totals count what commits count, topics included, at once for the store's own commits", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const a = freshTopic("tot")
        const b = freshTopic("tot")
        const before = yield* store.totals
        yield* store.commit(direct([makeEvent(a, "1"), makeEvent(a, "2"), makeEvent(b, "1")]))
        yield* store.commit(direct([makeEvent(a, "1"), makeEvent(b, "1", { other: true }), makeEvent(a, "3")]))
        const after = yield* store.totals
        assert.deepStrictEqual(
          {
            unique: after.unique - before.unique,
            duplicates: after.duplicates - before.duplicates,
            conflicts: after.conflicts - before.conflicts,
            topicCount: after.topicCount - before.topicCount
          },
          { unique: 4, duplicates: 2, conflicts: 1, topicCount: 2 }
        )
      })
    )

    it.effect("topics pages by name from a cursor, with counters; nextAfter is always the next cursor", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const prefix = freshTopic("pg")
        const names = [`${prefix}.c`, `${prefix}.a`, `${prefix}.b`]
        yield* store.commit(direct([makeEvent(names[0]!, "1"), makeEvent(names[1]!, "1"), makeEvent(names[2]!, "1")]))
        yield* store.commit(direct([makeEvent(names[1]!, "1"), makeEvent(names[1]!, "2")]))
        const first = yield* store.topics({ after: `${prefix}.`, limit: 2 })
        assert.deepStrictEqual(first.topics, [
          { topic: `${prefix}.a`, unique: 2, duplicates: 1, conflicts: 0 },
          { topic: `${prefix}.b`, unique: 1, duplicates: 0, conflicts: 0 }
        ])
        assert.strictEqual(first.nextAfter, `${prefix}.b`)
        const second = yield* store.topics({ after: first.nextAfter, limit: 2 })
        assert.deepStrictEqual(second.topics[0], { topic: `${prefix}.c`, unique: 1, duplicates: 0, conflicts: 0 })
        const past = yield* store.topics({ after: `${prefix}.c\uffff\uffff`, limit: 1 })
        assert.isTrue(past.topics.every((t) => t.topic > `${prefix}.c\uffff\uffff`))
        if (past.topics.length === 0) assert.strictEqual(past.nextAfter, `${prefix}.c\uffff\uffff`)
        // every topic of the store is on some page, in order, once: same as the full listing
        const all: Array<string> = []
        for (let after = ""; ; ) {
          const page = yield* store.topics({ after, limit: 500 })
          all.push(...page.topics.map((t) => t.topic))
          if (page.topics.length < 500) break
          after = page.nextAfter
        }
        assert.deepStrictEqual(all, [...all].sort())
        assert.strictEqual(new Set(all).size, all.length)
        assert.includeMembers(all, names)
      })
    )

    it.effect("ping answers while the store is up", () =>
      Effect.gen(function* () {
        yield* (yield* EventStore).ping
      })
    )

    it.effect("every valid timestamp reads back as committed, years 0001–0099 and 9999 included", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t = freshTopic("ts")
        const stamps = [
          "0001-01-01T00:00:00.000Z",
          "0050-06-15T12:34:56.789Z",
          "0099-12-31T23:59:59.999Z",
          "0100-01-01T00:00:00.001Z",
          "1969-12-31T23:59:59.999Z",
          "9999-12-31T23:59:59.999Z"
        ]
        yield* store.commit(direct(stamps.map((timestamp, i) => ({ ...makeEvent(t, String(i)), timestamp }))))
        const back = yield* readAllOfTopic(t)
        assert.deepStrictEqual(
          back.map((e) => e.timestamp),
          stamps
        )
      })
    )

    it.effect("stats: per-topic counters, topics sorted, totals are the per-topic sums", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const t1 = freshTopic("stats1")
        const t2 = freshTopic("stats2")
        yield* store.commit(
          direct([makeEvent(t1, "a"), makeEvent(t1, "a"), makeEvent(t2, "a"), makeEvent(t1, "b", { v: 0 })])
        )
        yield* store.commit(direct([makeEvent(t1, "b", { v: 1 }), makeEvent(t2, "b")]))
        const stats = yield* store.stats
        assert.deepStrictEqual(
          stats.topics.find((t) => t.topic === t1),
          { topic: t1, unique: 2, duplicates: 2, conflicts: 1 }
        )
        assert.deepStrictEqual(
          stats.topics.find((t) => t.topic === t2),
          { topic: t2, unique: 2, duplicates: 0, conflicts: 0 }
        )
        const names = stats.topics.map((t) => t.topic)
        assert.deepStrictEqual(names, [...names].sort())
        assert.strictEqual(
          stats.unique,
          stats.topics.reduce((n, t) => n + t.unique, 0)
        )
        assert.strictEqual(
          stats.duplicates,
          stats.topics.reduce((n, t) => n + t.duplicates, 0)
        )
        assert.strictEqual(
          stats.conflicts,
          stats.topics.reduce((n, t) => n + t.conflicts, 0)
        )
      })
    )
  })
