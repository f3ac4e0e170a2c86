/**
 * The contract suite of the `EventLog` port, run against every implementation (memory in @agg/core, Redis Streams
 * in @agg/storage): append and `received`, read → pending, ack, reclaim of idle entries with delivery counts,
 * liveness (a consumer with a live heartbeat is never reclaimed from, one whose mark expired is), the consumers
 * listing, dead-lettering, listing, redriving and discarding dead letters, lag/pending figures, blocking reads.
 * Given a log with several partitions, it also checks what partitioning adds: events in their topic's partition,
 * consumers reading and reclaiming by their share, the rebalance when a consumer dies, per-partition floors and
 * dead letters. Topics are picked with `Partitioning.partitionOf`, so the tests hold for any partition count.
 *
 * Tests run on the real clock (a real Redis cannot use `TestClock`): idle times are small real durations and the
 * suite waits for conditions (retrying `reclaim` until it returns entries, bounded) rather than sleeping a fixed
 * time. It does not write raw, undecodable entries (no portable way to): adapters test that themselves.
 */
import { EventLog as Log, Partitioning } from "@agg/core"
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

/** Retry `check` until it holds (bounded: about 5 s); `what` names the condition in the failure. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function* () {
    if (!(yield* check)) return yield* Effect.fail(`still waiting: ${what}`)
  }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))

const eventOf = (entry: LogEntry): Event => {
  if (entry._tag !== "Event") throw new Error(`entry ${entry.id} of ${entry.stream} does not decode: ${entry.reason}`)
  return entry.event
}
const sorted = (values: Iterable<string>) => [...values].sort()

/** Options of `eventLogSuite`: how the log under test is configured. @category models */
export interface EventLogSuiteOptions {
  /** How many partitions `logLayer`'s log has (default 1). The partitioning tests run only with more than one. */
  readonly partitions?: number
}

/**
 * Register the `EventLog` contract tests under `name`. `logLayer` must give a fresh, empty log every time it is
 * built: it is provided to each test separately.
 * @category testing
 */
export const eventLogSuite = (
  name: string,
  logLayer: Layer.Layer<EventLog, unknown>,
  options: EventLogSuiteOptions = {}
): void => {
  const n = options.partitions ?? 1
  describe(`EventLog contract: ${name}${n > 1 ? ` (${n} partitions)` : ""}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, EventLog>) =>
      it.live(title, () => body.pipe(Effect.provide(logLayer)), 30_000)

    /** The `k`-th topic (from 0) whose partition is one of `partitions`: "suite.log" itself when it is. */
    const topicIn = (partitions: ReadonlyArray<number>, k = 0) => {
      let found = -1
      for (let j = 0; ; j++) {
        const topic = j === 0 ? "suite.log" : `suite.log.${j}`
        if (partitions.includes(Partitioning.partitionOf(topic, n)) && ++found === k) return topic
      }
    }
    const partitionOfEntry = (entry: LogEntry) => Partitioning.partitionOf(eventOf(entry).topic, n)
    const all = Array.from({ length: n }, (_, p) => p)
    /** `perPartition` events in each of `partitions`, their ids naming topic and rank. */
    const spread = (perPartition: number, partitions: ReadonlyArray<number> = all): Array<Event> =>
      Array.from({ length: perPartition }, (_, k) =>
        partitions.map((p) => ({ ...event(k), topic: topicIn([p]), event_id: `p${p}.${k}` }))
      ).flat()
    /** Read for `consumer` until a read comes back empty (bounded), everything it got in order. */
    const drain = (consumer: string) =>
      Effect.gen(function* () {
        const log = yield* EventLog
        const got: Array<LogEntry> = []
        for (let round = 0; round < 1000; round++) {
          const batch = yield* log.read(consumer, short)
          if (batch.length === 0) return got
          got.push(...batch)
        }
        return yield* Effect.fail(`${consumer} never ran out of entries`)
      })
    const ids = (entries: ReadonlyArray<LogEntry>) => sorted(entries.map((e) => eventOf(e).event_id))
    const refs = (entries: ReadonlyArray<LogEntry>) => sorted(entries.map(Log.refKey))

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
        yield* log.heartbeat("alive", Duration.seconds(30))
        yield* log.heartbeat("mortal", Duration.millis(300))
        // "mortal" beat second, so it owns its share of the partitions: give it an event there, and "alive" (which
        // beat alone, so owns everything) one outside it.
        const live = ["alive", "mortal"]
        yield* log.append([
          { ...event(1), topic: topicIn(Partitioning.share("mortal", live, n)) },
          { ...event(2), topic: topicIn(Partitioning.share("alive", live, n)) }
        ])
        const lost = yield* log.read("mortal", { count: 1, block: Duration.millis(50) })
        const held = yield* log.read("alive", { count: 1, block: Duration.millis(50) })
        assert.deepStrictEqual([lost.length, held.length], [1, 1])
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

    if (n > 1) {
      test(
        "each event goes to its topic's partition: one stream per partition, figures summed, order kept per topic",
        Effect.gen(function* () {
          const log = yield* EventLog
          const twin = topicIn([0], 1) // a second topic of partition 0
          const batch = [...spread(3), ...[0, 1, 2].map((k) => ({ ...event(k), topic: twin, event_id: `twin.${k}` }))]
          yield* log.append(batch)
          const total = batch.length
          assert.deepStrictEqual(yield* log.stats, {
            received: total,
            lag: total,
            pending: 0,
            deadLettered: 0,
            discarded: 0
          })
          const got = yield* drain("c1")
          assert.deepStrictEqual(ids(got), sorted(batch.map((e) => e.event_id)), "each event once")
          assert.strictEqual(new Set(got.map(Log.refKey)).size, total, "distinct refs")
          const streams = new Map<number, Set<string>>()
          for (const entry of got) {
            const p = partitionOfEntry(entry)
            streams.set(p, (streams.get(p) ?? new Set()).add(entry.stream))
          }
          assert.deepStrictEqual(
            [...streams.values()].map((s) => s.size),
            all.map(() => 1),
            "every partition is one stream"
          )
          assert.strictEqual(new Set([...streams.values()].flatMap((s) => [...s])).size, n, "a stream per partition")
          for (const topic of new Set(batch.map((e) => e.topic))) {
            assert.deepStrictEqual(
              got.map(eventOf).filter((e) => e.topic === topic),
              batch.filter((e) => e.topic === topic),
              `order of ${topic}`
            )
          }
          assert.deepStrictEqual(yield* log.stats, {
            received: total,
            lag: 0,
            pending: total,
            deadLettered: 0,
            discarded: 0
          })
        })
      )

      test(
        "each live consumer reads only its share of the partitions; together they read everything once",
        Effect.gen(function* () {
          const log = yield* EventLog
          const names = ["a", "b", "c"]
          // A share is computed at each heartbeat: the second round sees all three alive.
          for (const name of [...names, ...names]) yield* log.heartbeat(name, Duration.seconds(30))
          const batch = spread(2)
          yield* log.append(batch)
          const got: Array<LogEntry> = []
          for (const name of names) {
            const mine = yield* drain(name)
            const share = Partitioning.share(name, names, n)
            for (const entry of mine)
              assert.include(share, partitionOfEntry(entry), `${name} owns ${share}, read ${eventOf(entry).event_id}`)
            assert.strictEqual(mine.length, 2 * share.length, `${name} read all of its share`)
            got.push(...mine)
          }
          assert.deepStrictEqual(ids(got), sorted(batch.map((e) => e.event_id)), "everything, exactly once")
          assert.deepStrictEqual(yield* log.stats, {
            received: batch.length,
            lag: 0,
            pending: batch.length,
            deadLettered: 0,
            discarded: 0
          })
        })
      )

      test(
        "when a consumer dies, its partitions pass at the next heartbeat: its undelivered and pending entries move",
        Effect.gen(function* () {
          const log = yield* EventLog
          yield* log.heartbeat("a", Duration.seconds(30))
          yield* log.heartbeat("b", Duration.millis(600))
          yield* log.heartbeat("a", Duration.seconds(30))
          const live = ["a", "b"]
          const ofA = Partitioning.share("a", live, n)
          const ofB = Partitioning.share("b", live, n)
          const batch = spread(2)
          yield* log.append(batch)
          const first = yield* log.read("b", { count: 1, block: Duration.millis(50) })
          assert.strictEqual(first.length, 1)
          assert.include(ofB, partitionOfEntry(first[0]!), "b reads its own share")
          const mine = yield* drain("a")
          assert.deepStrictEqual(
            ids(mine),
            ids(mine).filter((id) => ofA.includes(Number(id.slice(1, id.indexOf("."))))),
            "a reads only its share while b lives"
          )
          assert.strictEqual(mine.length, 2 * ofA.length)
          yield* log.ack(mine)
          yield* eventually(
            "b's mark expired",
            Effect.map(log.consumers, (cs) => cs.some((c) => c.name === "b" && !c.alive))
          )
          assert.deepStrictEqual(yield* log.read("a", short), [], "a keeps the share of its last heartbeat")
          yield* log.heartbeat("a", Duration.seconds(30))
          assert.deepStrictEqual(
            (yield* log.consumers).find((c) => c.name === "a")?.partitions,
            all,
            "a owns every partition now"
          )
          const rest = yield* drain("a")
          assert.strictEqual(rest.length, 2 * ofB.length - 1, "b's undelivered entries")
          for (const entry of rest) assert.include(ofB, partitionOfEntry(entry))
          const back = yield* reclaimEventually("a", Duration.zero)
          assert.deepStrictEqual(
            back.map((e) => [Log.refKey(e), e.deliveries]),
            [[Log.refKey(first[0]!), 2]],
            "b's pending entry, redelivered"
          )
          yield* log.ack([...rest, ...back])
          assert.deepStrictEqual(
            ids([...mine, ...rest, ...back]),
            sorted(batch.map((e) => e.event_id)),
            "nothing lost or doubled"
          )
          assert.deepStrictEqual(yield* log.stats, {
            received: batch.length,
            lag: 0,
            pending: 0,
            deadLettered: 0,
            discarded: 0
          })
          assert.deepStrictEqual(yield* log.reclaim("a", { minIdle: Duration.zero, count: 10 }), [])
          assert.deepStrictEqual(
            (yield* log.consumers).map((c) => c.name),
            ["a"],
            "b, dead and empty, is removed"
          )
        })
      )

      test(
        "reclaim takes dead consumers' entries from its share only, and its own lost entries from every partition",
        Effect.gen(function* () {
          const log = yield* EventLog
          yield* log.heartbeat("a", Duration.seconds(30)) // alone: a owns everything for now
          yield* log.append(spread(1))
          const own = yield* drain("a")
          assert.strictEqual(own.length, n)
          yield* log.heartbeat("b", Duration.seconds(30))
          yield* log.heartbeat("a", Duration.seconds(30))
          const live = ["a", "b"]
          const ofA = Partitioning.share("a", live, n)
          const ofB = Partitioning.share("b", live, n)
          yield* log.append(spread(1).map((e) => ({ ...e, event_id: `${e.event_id}.dead` })))
          const orphaned = yield* drain("d") // never beat: reads every partition
          assert.strictEqual(orphaned.length, n)
          const took = yield* log.reclaim("a", {
            minIdle: Duration.zero,
            count: 100,
            own: { minIdle: Duration.zero, held: new Set() }
          })
          assert.deepStrictEqual(refs(took.slice(0, n)), refs(own), "its own lost entries first, from every partition")
          assert.deepStrictEqual(took.slice(0, n).map(partitionOfEntry), all, "partition by partition")
          assert.deepStrictEqual(
            refs(took.slice(n)),
            refs(orphaned.filter((e) => ofA.includes(partitionOfEntry(e)))),
            "the dead consumer's entries of its share"
          )
          assert.deepStrictEqual(
            took.map((e) => e.deliveries),
            took.map(() => 2)
          )
          const taken = yield* log.reclaim("b", { minIdle: Duration.zero, count: 100 })
          assert.deepStrictEqual(
            refs(taken),
            refs(orphaned.filter((e) => ofB.includes(partitionOfEntry(e)))),
            "b takes the rest: its share"
          )
          assert.deepStrictEqual(yield* log.reclaim("b", { minIdle: Duration.zero, count: 100 }), [], "not a's")
          yield* log.ack([...took, ...taken])
          assert.deepStrictEqual((yield* log.stats).pending, 0)
        })
      )

      test(
        "a consumer that never sent a heartbeat reads and reclaims every partition",
        Effect.gen(function* () {
          const log = yield* EventLog
          yield* log.heartbeat("a", Duration.seconds(30))
          yield* log.heartbeat("b", Duration.seconds(30))
          yield* log.heartbeat("a", Duration.seconds(30))
          yield* log.append(spread(1))
          const orphaned = yield* drain("d")
          assert.deepStrictEqual(orphaned.map(partitionOfEntry).sort(), all, "d read every partition")
          yield* log.append(spread(1).map((e) => ({ ...e, event_id: `${e.event_id}.x` })))
          const fresh = yield* drain("x")
          assert.deepStrictEqual(fresh.map(partitionOfEntry).sort(), all, "x read every partition")
          const back = yield* log.reclaim("x", { minIdle: Duration.zero, count: 100 })
          assert.deepStrictEqual(refs(back), refs(orphaned), "x reclaimed d's entries of every partition")
          yield* log.ack([...fresh, ...back])
          assert.deepStrictEqual((yield* log.stats).pending, 0)
        })
      )

      test(
        "consumers lists one row per consumer with its share, live consumers that never read included",
        Effect.gen(function* () {
          const log = yield* EventLog
          const live = ["a", "b", "c"]
          for (const name of [...live, "a"]) yield* log.heartbeat(name, Duration.seconds(30))
          yield* log.append(spread(2))
          const mine = yield* drain("a")
          const theirs = yield* drain("d")
          assert.strictEqual(mine.length + theirs.length, 2 * n)
          const listed = yield* log.consumers
          assert.deepStrictEqual(
            listed.map((c) => [c.name, c.pending, c.alive, c.partitions]),
            [
              ["a", mine.length, true, Partitioning.share("a", live, n)],
              ["b", 0, true, Partitioning.share("b", live, n)],
              ["c", 0, true, Partitioning.share("c", live, n)],
              ["d", theirs.length, false, []]
            ]
          )
          for (const c of listed) assert.isTrue(c.idleMs >= 0 && c.idleMs < 10_000, `idle of ${c.name}: ${c.idleMs}`)
          assert.deepStrictEqual((yield* log.stats).pending, 2 * n, "read-only")
        })
      )

      test(
        "deliveryFloor has one ref per partition stream delivered from",
        Effect.gen(function* () {
          const log = yield* EventLog
          const used = all.slice(0, -1) // the last partition gets nothing
          yield* log.append(spread(2, used))
          const got = yield* drain("c1")
          const byStream = new Map<string, Array<LogEntry>>()
          for (const entry of got) byStream.set(entry.stream, [...(byStream.get(entry.stream) ?? []), entry])
          assert.strictEqual(byStream.size, used.length)
          const floor = Effect.map(log.deliveryFloor, (floors) => new Map(floors.map((f) => [f.stream, f.id])))
          assert.deepStrictEqual(yield* floor, new Map([...byStream].map(([s, es]) => [s, es[0]!.id])))
          yield* log.ack([...byStream.values()].map((es) => es[0]!))
          assert.deepStrictEqual(yield* floor, new Map([...byStream].map(([s, es]) => [s, es[1]!.id])))
          yield* log.ack(got)
          const past = yield* floor
          assert.deepStrictEqual(sorted(past.keys()), sorted(byStream.keys()))
          for (const [s, es] of byStream) assert.isTrue(Log.isBelow(es[1]!.id, past.get(s)!), `past the last of ${s}`)
        })
      )

      test(
        "dead letters of all partitions: ids with the partition, paged in (ms, seq, partition) order, redriven home",
        Effect.gen(function* () {
          const log = yield* EventLog
          const batch = spread(2)
          yield* log.append(batch)
          const got = yield* drain("c1")
          const home = new Map(got.map((e) => [eventOf(e).event_id, e.stream]))
          for (const entry of got) yield* log.deadLetter(entry, `poison ${eventOf(entry).event_id}`)
          const total = batch.length
          assert.deepStrictEqual(yield* log.stats, {
            received: total,
            lag: 0,
            pending: 0,
            deadLettered: total,
            discarded: 0
          })
          const listed = (yield* log.deadLetters({ limit: 100 })).entries
          assert.strictEqual(listed.length, total)
          assert.strictEqual(new Set(listed.map((d) => d.id)).size, total, "distinct ids")
          const partitionOfDead = (d: Log.DeadLetterEntry) => {
            assert.strictEqual(d.content._tag, "Event")
            return Partitioning.partitionOf(d.content._tag === "Event" ? d.content.event.topic : "", n)
          }
          for (const d of listed) {
            const address = Partitioning.parseDeadLetterId(d.id)
            const p = partitionOfDead(d)
            assert.deepStrictEqual(address?.partition, p, `partition of ${d.id}`)
            assert.strictEqual(d.id, Partitioning.deadLetterId(p, address!.id), "the one spelling")
            if (d.content._tag === "Event") assert.strictEqual(d.entry.stream, home.get(d.content.event.event_id))
          }
          const order = listed.map((d) => d.id)
          assert.deepStrictEqual([...order].sort(Partitioning.compareDeadLetterIds), order, "(ms, seq, p) order")
          const paged: Array<string> = []
          let after: string | undefined
          for (let round = 0; round <= total; round++) {
            const page = yield* log.deadLetters(after === undefined ? { limit: 3 } : { after, limit: 3 })
            if (page.entries.length === 0) {
              assert.strictEqual(page.nextAfter, after)
              break
            }
            paged.push(...page.entries.map((d) => d.id))
            after = page.nextAfter
          }
          assert.deepStrictEqual(paged, order, "paging walks the same order")
          const firstAddress = Partitioning.parseDeadLetterId(order[0]!)!
          if (n < Partitioning.maxPartitions) {
            const beyond = `${firstAddress.id}-${n}` // a partition the log does not have: only a position
            assert.deepStrictEqual(
              (yield* log.deadLetters({ after: beyond, limit: 100 })).entries.map((d) => d.id),
              order.filter((id) => Partitioning.compareDeadLetterIds(beyond, id) < 0)
            )
          }
          const refused = yield* Effect.flip(log.deadLetters({ after: "1-0-x", limit: 10 }))
          assert.strictEqual(refused._tag, "EventLogError")
          assert.isFalse(refused.retryable)
          assert.include(refused.message, "1-0-x")

          const zero = listed.find((d) => partitionOfDead(d) === 0)!
          const other = listed.find((d) => partitionOfDead(d) !== 0)!
          const otherAddress = Partitioning.parseDeadLetterId(other.id)!
          const malformed = [`${zero.id}-0`, `${zero.id}-${n}`, `${otherAddress.id}-0${otherAddress.partition}`]
          assert.deepStrictEqual(yield* log.redrive(malformed), { count: 0, missing: malformed, skipped: [] })
          assert.deepStrictEqual(yield* log.discard(malformed), { count: 0, missing: malformed, skipped: [] })

          assert.deepStrictEqual(yield* log.redrive([other.id]), { count: 1, missing: [], skipped: [] })
          const again = yield* drain("c2")
          assert.deepStrictEqual(
            again.map((e) => [e.stream, eventOf(e), e.deliveries]),
            [[other.entry.stream, other.content._tag === "Event" ? other.content.event : null, 1]],
            "appended back to its own partition"
          )
          assert.deepStrictEqual(yield* log.discard([zero.id]), { count: 1, missing: [], skipped: [] })
          yield* log.deadLetter(again[0]!, "still poison")
          const now = (yield* log.deadLetters({ limit: 100 })).entries
          assert.strictEqual(now.length, total - 1)
          assert.notInclude(
            now.map((d) => d.id),
            zero.id
          )
          const redead = now.find((d) => d.reason === "still poison")!
          assert.strictEqual(Partitioning.parseDeadLetterId(redead.id)?.partition, otherAddress.partition)

          assert.deepStrictEqual(yield* log.redrive("all"), { count: total - 1, missing: [], skipped: [] })
          const back = yield* drain("c3")
          assert.strictEqual(back.length, total - 1)
          for (const entry of back)
            assert.strictEqual(entry.stream, home.get(eventOf(entry).event_id), `${eventOf(entry).event_id} went home`)
          for (const entry of back) yield* log.deadLetter(entry, "poison")
          assert.deepStrictEqual(yield* log.discard("all"), { count: total - 1, missing: [], skipped: [] })
          assert.deepStrictEqual(yield* log.stats, {
            received: total,
            lag: 0,
            pending: 0,
            deadLettered: 0,
            discarded: total
          })
        })
      )
    }
  })
}
