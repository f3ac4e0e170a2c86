/**
 * The contract suite of the `EventLog` port, run against every implementation (memory in @agg/core, Redis Streams
 * in @agg/storage): append and `received`, read → pending, ack, reclaim of idle entries with delivery counts,
 * liveness (a consumer with a live heartbeat is never reclaimed from, one whose mark expired is), the consumers
 * listing, dead-lettering,
 * listing, redriving and discarding dead letters, lag/pending figures, blocking reads.
 *
 * Tests run on the real clock (a real Redis cannot use `TestClock`): idle times are small real durations and the
 * suite waits for conditions (retrying `reclaim` until it returns entries, bounded) rather than sleeping a fixed
 * time. It does not write raw, undecodable entries (no portable way to): adapters test that themselves.
 */
import { EventLog as Log } from "@agg/core"
import type { Event } from "@agg/schema"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, type Layer, Schedule } from "effect"

type EventLog = Log.EventLog
const EventLog = Log.EventLog
type LogEntry = Log.LogEntry

const event = (i: number): Event => ({
  topic: "suite.log",
  event_id: `e${i}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "suite",
  payload: { i }
})
const events = (n: number, from = 1) => Array.from({ length: n }, (_, i) => event(from + i))
const short = { count: 100, block: Duration.millis(50) }
const eventsOf = (entries: ReadonlyArray<LogEntry>) => entries.map((e) => (e._tag === "Event" ? e.event : null))

/** Retry `reclaim` until it returns at least one entry (bounded: about 5 s). */
const reclaimEventually = (consumer: string, minIdle: Duration.Duration, count = 100) =>
  Effect.gen(function* () {
    const log = yield* EventLog
    const got = yield* log.reclaim(consumer, { minIdle, count })
    if (got.length === 0) return yield* Effect.fail("nothing reclaimed yet" as const)
    return got
  }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))

/**
 * Register the `EventLog` contract tests under `name`. `logLayer` must give a fresh, empty log every time it is
 * built: it is provided to each test separately.
 * @category testing
 */
export const eventLogSuite = (name: string, logLayer: Layer.Layer<EventLog, unknown>): void => {
  describe(`EventLog contract: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, EventLog>) =>
      it.live(title, () => body.pipe(Effect.provide(logLayer)), 30_000)

    test(
      "a fresh log is empty; append counts received and waits as lag",
      Effect.gen(function* () {
        const log = yield* EventLog
        assert.deepStrictEqual(yield* log.stats, { received: 0, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
        yield* log.append(events(3))
        yield* log.append([])
        assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 3, pending: 0, deadLettered: 0, discarded: 0 })
      })
    )

    test(
      "read delivers entries once, in append order, and makes them pending for that consumer",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(5))
        const first = yield* log.read("c1", { count: 2, block: Duration.millis(50) })
        assert.deepStrictEqual(eventsOf(first), events(2))
        assert.deepStrictEqual(
          first.map((e) => [e._tag, e.deliveries]),
          [
            ["Event", 1],
            ["Event", 1]
          ]
        )
        assert.deepStrictEqual(yield* log.stats, { received: 5, lag: 3, pending: 2, deadLettered: 0, discarded: 0 })
        const rest = yield* log.read("c2", short)
        assert.deepStrictEqual(eventsOf(rest), events(3, 3))
        assert.strictEqual(new Set([...first, ...rest].map((e) => e.id)).size, 5, "distinct ids")
        assert.deepStrictEqual(yield* log.read("c1", short), [])
        assert.deepStrictEqual(yield* log.stats, { received: 5, lag: 0, pending: 5, deadLettered: 0, discarded: 0 })
      })
    )

    test(
      "ack removes entries from pending for good; repeated acks are ignored",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(3))
        const got = yield* log.read("c1", short)
        yield* log.ack([got[0]!, got[1]!])
        assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
        yield* log.ack([got[0]!])
        yield* log.ack([])
        assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
        // acked entries are never handed out again, even to reclaim with no idle threshold
        const reclaimed = yield* reclaimEventually("c2", Duration.zero)
        assert.deepStrictEqual(
          reclaimed.map((e) => e.id),
          [got[2]!.id]
        )
      })
    )

    test(
      "reclaim takes entries idle past minIdle, with their delivery counts",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(3))
        const got = yield* log.read("dead", short)
        assert.strictEqual(got.length, 3)
        assert.deepStrictEqual(yield* log.reclaim("c2", { minIdle: Duration.minutes(10), count: 10 }), [])
        const second = yield* reclaimEventually("c2", Duration.millis(50), 2)
        assert.deepStrictEqual(
          second.map((e) => [e.id, e.deliveries]),
          [
            [got[0]!.id, 2],
            [got[1]!.id, 2]
          ]
        )
        assert.deepStrictEqual(eventsOf(second), events(2))
        // still pending (now for c2): the count does not change by a claim
        assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 0, pending: 3, deadLettered: 0, discarded: 0 })
        yield* log.ack(second)
        const third = yield* reclaimEventually("c3", Duration.millis(50))
        assert.deepStrictEqual(
          third.map((e) => [e.id, e.deliveries]),
          [[got[2]!.id, 2]]
        )
        const fourth = yield* reclaimEventually("c4", Duration.millis(50))
        assert.deepStrictEqual(
          fourth.map((e) => [e.id, e.deliveries]),
          [[got[2]!.id, 3]]
        )
        yield* log.ack([got[2]!])
        assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
      })
    )

    test(
      "a consumer with a live heartbeat keeps its entries; once its mark expires they are reclaimable",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(2))
        yield* log.heartbeat("alive", Duration.seconds(30))
        yield* log.heartbeat("mortal", Duration.millis(300))
        const held = yield* log.read("alive", { count: 1, block: Duration.millis(50) })
        const lost = yield* log.read("mortal", { count: 1, block: Duration.millis(50) })
        assert.deepStrictEqual(yield* log.reclaim("c2", { minIdle: Duration.zero, count: 10 }), [], "both alive")
        const taken = yield* reclaimEventually("c2", Duration.zero)
        assert.deepStrictEqual(
          taken.map((e) => [e.id, e.deliveries]),
          [[lost[0]!.id, 2]],
          "only the expired consumer's entry"
        )
        yield* log.ack(taken)
        yield* log.heartbeat("alive", Duration.seconds(30)) // refreshing a mark keeps it alive
        assert.deepStrictEqual(yield* log.reclaim("c3", { minIdle: Duration.zero, count: 10 }), [])
        assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
        yield* log.ack(held)
      })
    )

    test(
      "consumers lists the group's consumers with their pending counts and marks, and changes nothing",
      Effect.gen(function* () {
        const log = yield* EventLog
        assert.deepStrictEqual(yield* log.consumers, [])
        yield* log.append(events(3))
        yield* log.heartbeat("beating", Duration.seconds(30))
        yield* log.read("beating", { count: 2, block: Duration.millis(50) })
        yield* log.read("silent", { count: 1, block: Duration.millis(50) })
        const listed = [...(yield* log.consumers)].sort((a, b) => a.name.localeCompare(b.name))
        assert.deepStrictEqual(
          listed.map((c) => [c.name, c.pending, c.alive]),
          [
            ["beating", 2, true],
            ["silent", 1, false]
          ]
        )
        for (const c of listed) assert.isTrue(c.idleMs >= 0 && c.idleMs < 10_000, `idle of ${c.name}: ${c.idleMs}`)
        // Read-only: a dead consumer stays listed and keeps its entries until a reclaim takes them.
        assert.deepStrictEqual((yield* log.consumers).length, 2)
        assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 0, pending: 3, deadLettered: 0, discarded: 0 })
      })
    )

    test(
      "with own, a consumer takes back its own idle entries that it does not hold, never those it holds",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(2))
        yield* log.heartbeat("c1", Duration.seconds(30))
        const got = yield* log.read("c1", short)
        const held = new Set([Log.refKey(got[0]!)])
        assert.deepStrictEqual(
          yield* log.reclaim("c1", { minIdle: Duration.zero, count: 10 }),
          [],
          "without own: its own entries are left alone"
        )
        const own = { minIdle: Duration.millis(50), held }
        const back = yield* Effect.gen(function* () {
          const entries = yield* log.reclaim("c1", { minIdle: Duration.zero, count: 10, own })
          if (entries.length === 0) return yield* Effect.fail("not idle yet" as const)
          return entries
        }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))
        assert.deepStrictEqual(
          back.map((e) => [e.id, e.deliveries]),
          [[got[1]!.id, 2]],
          "only the one not in hand, as a new delivery"
        )
        assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 2, deadLettered: 0, discarded: 0 })
        yield* log.ack(got)
      })
    )

    test(
      "deadLetter moves a pending entry aside: counted, acknowledged, never delivered again",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(2))
        const got = yield* log.read("c1", short)
        yield* log.deadLetter(got[0]!, "poison")
        assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 1, deadLettered: 1, discarded: 0 })
        const reclaimed = yield* reclaimEventually("c2", Duration.zero)
        assert.deepStrictEqual(
          reclaimed.map((e) => e.id),
          [got[1]!.id]
        )
        assert.deepStrictEqual(yield* log.read("c3", short), [])
      })
    )

    test(
      "deadLetters lists the dead-lettered entries oldest first, with reason, deliveries, time and event, paged",
      Effect.gen(function* () {
        const log = yield* EventLog
        assert.deepStrictEqual(yield* log.deadLetters({ limit: 10 }), { entries: [], nextAfter: "0-0" })
        yield* log.append(events(3))
        const got = yield* log.read("c1", short)
        const before = Date.now()
        yield* log.deadLetter(got[0]!, "first")
        yield* log.deadLetter(got[2]!, "second")
        const all = yield* log.deadLetters({ limit: 10 })
        assert.deepStrictEqual(
          all.entries.map((d) => [d.entry.stream, d.entry.id, d.reason, d.deliveries, d.content]),
          [
            [got[0]!.stream, got[0]!.id, "first", 1, { _tag: "Event", event: event(1) }],
            [got[2]!.stream, got[2]!.id, "second", 1, { _tag: "Event", event: event(3) }]
          ]
        )
        assert.strictEqual(all.nextAfter, all.entries[1]!.id)
        assert.isTrue(Log.isBelow(all.entries[0]!.id, all.entries[1]!.id), "ids rise in arrival order")
        const at = Date.parse(all.entries[0]!.deadLetteredAt)
        assert.isTrue(
          at >= before - 1000 && at <= Date.now() + 1000,
          `dead-lettered at ${all.entries[0]!.deadLetteredAt}`
        )
        const first = yield* log.deadLetters({ limit: 1 })
        assert.deepStrictEqual(first.entries, all.entries.slice(0, 1))
        const second = yield* log.deadLetters({ after: first.nextAfter, limit: 1 })
        assert.deepStrictEqual(second.entries, all.entries.slice(1))
        const past = yield* log.deadLetters({ after: second.nextAfter, limit: 1 })
        assert.deepStrictEqual(past, { entries: [], nextAfter: second.nextAfter })
        yield* log.ack([got[1]!])
      })
    )

    test(
      "redrive appends an entry back as never delivered: dead-lettered down, lag up, received unchanged",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(2))
        const got = yield* log.read("c1", short)
        yield* log.deadLetter(got[0]!, "poison")
        yield* log.deadLetter(got[1]!, "poison")
        const [a, b] = (yield* log.deadLetters({ limit: 10 })).entries
        const outcome = yield* log.redrive([a!.id, "1-1", "not-an-id"])
        assert.deepStrictEqual(outcome, { count: 1, missing: ["1-1", "not-an-id"], skipped: [] })
        assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 1, pending: 0, deadLettered: 1, discarded: 0 })
        assert.deepStrictEqual(
          (yield* log.deadLetters({ limit: 10 })).entries.map((d) => d.id),
          [b!.id]
        )
        assert.deepStrictEqual((yield* log.redrive([a!.id])).missing, [a!.id], "redriven once only")
        const again = yield* log.read("c2", short)
        assert.deepStrictEqual(eventsOf(again), [event(1)])
        assert.strictEqual(again[0]!.deliveries, 1)
        assert.isTrue(Log.isBelow(got[1]!.id, again[0]!.id), "a new entry, after the old ones")
        // It fails again: back to the dead letters under a new id, counted once.
        yield* log.deadLetter(again[0]!, "still poison")
        assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 0, deadLettered: 2, discarded: 0 })
        const listed = (yield* log.deadLetters({ limit: 10 })).entries
        assert.deepStrictEqual(
          listed.map((d) => [d.entry.id, d.reason]),
          [
            [got[1]!.id, "poison"],
            [again[0]!.id, "still poison"]
          ]
        )
        assert.deepStrictEqual(yield* log.redrive("all"), { count: 2, missing: [], skipped: [] })
        assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 2, pending: 0, deadLettered: 0, discarded: 0 })
        const last = yield* log.read("c2", short)
        assert.deepStrictEqual(eventsOf(last), [event(2), event(1)])
        yield* log.ack(last)
        assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
      })
    )

    test(
      "discard removes dead letters for good, counted as discarded; discard all empties the store",
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.append(events(4))
        const got = yield* log.read("c1", short)
        for (const entry of got) yield* log.deadLetter(entry, "poison")
        const ids = (yield* log.deadLetters({ limit: 10 })).entries.map((d) => d.id)
        assert.deepStrictEqual(yield* log.discard([ids[1]!, "1-1"]), { count: 1, missing: ["1-1"], skipped: [] })
        assert.deepStrictEqual(yield* log.discard([ids[1]!]), { count: 0, missing: [ids[1]!], skipped: [] })
        assert.deepStrictEqual(yield* log.stats, { received: 4, lag: 0, pending: 0, deadLettered: 3, discarded: 1 })
        assert.deepStrictEqual(yield* log.redrive([ids[1]!]), { count: 0, missing: [ids[1]!], skipped: [] })
        assert.deepStrictEqual(yield* log.discard("all"), { count: 3, missing: [], skipped: [] })
        assert.deepStrictEqual(yield* log.stats, { received: 4, lag: 0, pending: 0, deadLettered: 0, discarded: 4 })
        assert.deepStrictEqual((yield* log.deadLetters({ limit: 10 })).entries, [])
        assert.deepStrictEqual(yield* log.discard("all"), { count: 0, missing: [], skipped: [] })
        assert.deepStrictEqual(yield* log.read("c2", short), [], "nothing comes back")
      })
    )

    test(
      "deliveryFloor: the oldest pending entry, or past the last delivered one",
      Effect.gen(function* () {
        const log = yield* EventLog
        assert.deepStrictEqual(yield* log.deliveryFloor, [], "nothing delivered yet")
        yield* log.append(events(3))
        const got = yield* log.read("c1", short)
        const floor = Effect.map(log.deliveryFloor, (floors) => floors.map((f) => [f.stream, f.id]))
        assert.deepStrictEqual(yield* floor, [[got[0]!.stream, got[0]!.id]])
        yield* log.ack([got[0]!])
        assert.deepStrictEqual(yield* floor, [[got[1]!.stream, got[1]!.id]])
        yield* log.ack([got[1]!, got[2]!])
        const [[, past]] = (yield* floor) as [[string, string]]
        assert.isTrue(Log.isBelow(got[2]!.id, past), "every delivered entry is below the floor once acked")
        yield* log.append(events(1, 4))
        const [next] = yield* log.read("c1", short)
        assert.isFalse(Log.isBelow(next!.id, past), "an entry appended later is not below it")
        yield* log.ack([next!])
      })
    )

    test(
      "read returns nothing when no entry arrives within block",
      Effect.gen(function* () {
        const log = yield* EventLog
        assert.deepStrictEqual(yield* log.read("c1", { count: 10, block: Duration.millis(30) }), [])
      })
    )

    test(
      "a blocked read wakes up when an entry is appended",
      Effect.gen(function* () {
        const log = yield* EventLog
        const reader = yield* Effect.forkChild(log.read("c1", { count: 10, block: Duration.seconds(10) }))
        yield* log.append(events(1))
        const got = yield* Fiber.join(reader)
        assert.deepStrictEqual(eventsOf(got), events(1))
      })
    )
  })
}
