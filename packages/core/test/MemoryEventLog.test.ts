import { eventLogSuite } from "@agg/testing/EventLogSuite"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { EventLogError } from "../src/EventLog.ts"
import * as MemoryEventLog from "../src/memory/MemoryEventLog.ts"
import { partitionOf, share } from "../src/Partitioning.ts"

eventLogSuite("memory", MemoryEventLog.layer)
eventLogSuite("memory", MemoryEventLog.layerWith({ partitions: 4 }), { partitions: 4 })

const ev = (i: number) => ({
  topic: "t",
  event_id: `e${i}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload: { i }
})
/** The first topic `t<j>` of partition `p` (of `n`). */
const topicOf = (p: number, n: number) => {
  for (let j = 0; ; j++) if (partitionOf(`t${j}`, n) === p) return `t${j}`
}
const inPartition = (p: number, n: number, i: number) => ({ ...ev(i), topic: topicOf(p, n) })

describe("MemoryEventLog", () => {
  it.effect("idle time follows the Clock (TestClock)", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make()
      yield* log.append([ev(1)])
      yield* log.read("c1", { count: 10, block: Duration.zero })
      assert.deepStrictEqual(yield* log.reclaim("c2", { minIdle: Duration.seconds(30), count: 10 }), [])
      yield* TestClock.adjust("29 seconds")
      assert.deepStrictEqual(yield* log.reclaim("c2", { minIdle: Duration.seconds(30), count: 10 }), [])
      yield* TestClock.adjust("1 second")
      const got = yield* log.reclaim("c2", { minIdle: Duration.seconds(30), count: 10 })
      assert.deepStrictEqual(
        got.map((e) => e.deliveries),
        [2]
      )
    })
  )

  it.effect("a blocking read times out on the Clock", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make()
      const fiber = yield* Effect.forkChild(log.read("c1", { count: 10, block: Duration.seconds(5) }))
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), [])
    })
  )

  it.effect("undecodable entries are delivered as such and can be dead-lettered with their reason", () =>
    Effect.gen(function* () {
      const m = yield* MemoryEventLog.make()
      const id = yield* m.appendUndecodable("not JSON")
      const [entry] = yield* m.log.read("c1", { count: 10, block: Duration.zero })
      assert.deepStrictEqual(entry, { _tag: "Undecodable", stream: "memory", id, deliveries: 1, reason: "not JSON" })
      yield* m.log.deadLetter(entry!, "undecodable: not JSON")
      yield* m.log.deadLetter(entry!, "again")
      assert.deepStrictEqual(yield* m.log.stats, { received: 1, lag: 0, pending: 0, deadLettered: 1, discarded: 0 })
      assert.deepStrictEqual(
        (yield* m.deadLetters).map((d) => [d.entry.id, d.reason, d.deliveries]),
        [[id, "undecodable: not JSON", 1]]
      )
    })
  )

  it.effect("the dead-letter cap drops the oldest, counted as discarded; undecodable ones list their raw fields", () =>
    Effect.gen(function* () {
      const m = yield* MemoryEventLog.make({ deadLetterCap: 2 })
      yield* m.log.append([ev(1), ev(2)])
      yield* m.appendUndecodable("bad", { e: "{x" })
      const got = yield* m.log.read("c1", { count: 10, block: Duration.zero })
      for (const entry of got) yield* m.log.deadLetter(entry, "poison")
      assert.deepStrictEqual(yield* m.log.stats, { received: 3, lag: 0, pending: 0, deadLettered: 2, discarded: 1 })
      const listed = (yield* m.log.deadLetters({ limit: 10 })).entries
      assert.deepStrictEqual(
        listed.map((d) => [d.entry.id, d.content]),
        [
          [got[1]!.id, { _tag: "Event", event: ev(2) }],
          [got[2]!.id, { _tag: "Undecodable", raw: { e: Buffer.from("{x").toString("base64") } }]
        ]
      )
    })
  )

  it.effect("a fault fails the operation without changing the log", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make({
        fault: (operation) =>
          operation === "append"
            ? Effect.fail(new EventLogError({ operation, retryable: true, message: "down" }))
            : Effect.void
      })
      const error = yield* Effect.flip(log.append([ev(1)]))
      assert.isTrue(error.retryable)
      assert.deepStrictEqual(yield* log.stats, { received: 0, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
    })
  )

  it.effect("partitions are streams <stream>:p<i>; one partition keeps the plain stream name", () =>
    Effect.gen(function* () {
      const one = yield* MemoryEventLog.make({ stream: "s" })
      yield* one.log.append([ev(1)])
      assert.deepStrictEqual(
        (yield* one.log.read("c1", { count: 10, block: Duration.zero })).map((e) => e.stream),
        ["s"]
      )
      const four = yield* MemoryEventLog.make({ stream: "s", partitions: 4 })
      yield* four.log.append([0, 1, 2, 3].map((p) => inPartition(p, 4, p)))
      const got = yield* four.log.read("c1", { count: 10, block: Duration.zero })
      assert.deepStrictEqual(
        got.map((e) => [e.stream, e.id]),
        [
          ["s:p0", "1-0"],
          ["s:p1", "1-0"],
          ["s:p2", "1-0"],
          ["s:p3", "1-0"]
        ],
        "ids are per stream"
      )
    })
  )

  it.effect("make dies with a RangeError on a bad partition count", () =>
    Effect.gen(function* () {
      for (const partitions of [0, 1025, 1.5]) {
        const exit = yield* Effect.exit(MemoryEventLog.make({ partitions }))
        assert.isTrue(exit._tag === "Failure", `partitions ${partitions}`)
        const defect = exit._tag === "Failure" ? exit.cause.reasons[0] : undefined
        assert.isTrue(defect?._tag === "Die" && defect.defect instanceof RangeError, `a RangeError for ${partitions}`)
        assert.include(
          defect?._tag === "Die" ? String(defect.defect) : "",
          `partitions must be an integer from 1 to 1024, got ${partitions}`
        )
      }
    })
  )

  it.effect("a read starts one partition further each time, so none is starved", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make({ partitions: 4 })
      yield* log.append([0, 1, 2, 3].flatMap((p) => [inPartition(p, 4, p), inPartition(p, 4, p + 10)]))
      const streams: Array<string> = []
      for (let k = 0; k < 4; k++)
        streams.push(...(yield* log.read("c1", { count: 1, block: Duration.zero })).map((e) => e.stream))
      assert.deepStrictEqual(streams, ["memory:p0", "memory:p1", "memory:p2", "memory:p3"])
      const rest = yield* log.read("c1", { count: 3, block: Duration.zero })
      assert.deepStrictEqual(
        rest.map((e) => e.stream),
        ["memory:p0", "memory:p1", "memory:p2"],
        "count is the total, taken partition by partition"
      )
    })
  )

  it.effect("a blocked read looks its share up again after each wake-up", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make({ partitions: 4 })
      yield* log.heartbeat("a", Duration.seconds(10))
      yield* log.heartbeat("b", Duration.seconds(1))
      yield* log.heartbeat("a", Duration.seconds(10))
      const ofB = share("b", ["a", "b"], 4)
      yield* log.append([inPartition(ofB[0]!, 4, 1)])
      const reader = yield* Effect.forkChild(log.read("a", { count: 10, block: Duration.seconds(5) }))
      yield* TestClock.adjust("2 seconds") // b's mark expires; a still waits: the entry is not in its share
      yield* log.heartbeat("a", Duration.seconds(10)) // a owns everything from now
      yield* log.append([inPartition(share("a", ["a", "b"], 4)[0]!, 4, 2)])
      const got = yield* Fiber.join(reader)
      assert.deepStrictEqual(got.map((e) => (e._tag === "Event" ? e.event.event_id : null)).sort(), ["e1", "e2"])
    })
  )

  it.effect("a consumer that owns no partition waits for block and gets nothing", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make({ partitions: 2 })
      for (const name of ["a", "b", "c"]) yield* log.heartbeat(name, Duration.minutes(1))
      assert.deepStrictEqual(share("c", ["a", "b", "c"], 2), [])
      yield* log.append([inPartition(0, 2, 1), inPartition(1, 2, 2)])
      const reader = yield* Effect.forkChild(log.read("c", { count: 10, block: Duration.seconds(5) }))
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* Fiber.join(reader), [])
      assert.deepStrictEqual((yield* log.stats).lag, 2)
    })
  )

  it.effect("with one partition, every live consumer owns it", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make()
      yield* log.heartbeat("a", Duration.minutes(1))
      yield* log.heartbeat("b", Duration.minutes(1))
      yield* log.append([ev(1)])
      assert.strictEqual((yield* log.read("b", { count: 10, block: Duration.zero })).length, 1)
      assert.deepStrictEqual(
        (yield* log.consumers).map((c) => [c.name, c.partitions, c.idleMs]),
        [
          ["a", [0], 0],
          ["b", [0], 0]
        ]
      )
    })
  )

  it.effect("undecodable entries go to partition 0; each partition's dead-letter store is capped on its own", () =>
    Effect.gen(function* () {
      const m = yield* MemoryEventLog.make({ partitions: 4, deadLetterCap: 1 })
      yield* m.appendUndecodable("bad")
      yield* m.log.append([inPartition(0, 4, 1), inPartition(1, 4, 2), inPartition(2, 4, 3)])
      const got = yield* m.log.read("c1", { count: 10, block: Duration.zero })
      assert.deepStrictEqual(
        got.map((e) => [e._tag, e.stream]),
        [
          ["Undecodable", "memory:p0"],
          ["Event", "memory:p0"],
          ["Event", "memory:p1"],
          ["Event", "memory:p2"]
        ]
      )
      for (const entry of got) yield* m.log.deadLetter(entry, "poison")
      assert.deepStrictEqual(yield* m.log.stats, { received: 4, lag: 0, pending: 0, deadLettered: 3, discarded: 1 })
      assert.deepStrictEqual(
        (yield* m.deadLetters).map((d) => [d.id, d.entry.stream]),
        [
          ["2-0", "memory:p0"],
          ["1-0-1", "memory:p1"],
          ["1-0-2", "memory:p2"]
        ],
        "in arrival order, the oldest of partition 0 dropped"
      )
    })
  )

  it.effect("ack and deadLetter ignore entries of streams the log does not have", () =>
    Effect.gen(function* () {
      const { log } = yield* MemoryEventLog.make({ partitions: 2 })
      yield* log.append([inPartition(0, 2, 1)])
      const [entry] = yield* log.read("c1", { count: 10, block: Duration.zero })
      yield* log.ack([{ stream: "elsewhere", id: entry!.id }])
      yield* log.deadLetter({ ...entry!, stream: "elsewhere" }, "poison")
      assert.deepStrictEqual(yield* log.stats, { received: 1, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
    })
  )
})
