import { eventLogSuite } from "@agg/testing/EventLogSuite"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { EventLogError } from "../src/EventLog.ts"
import * as MemoryEventLog from "../src/memory/MemoryEventLog.ts"

eventLogSuite("memory", MemoryEventLog.layer)

const ev = (i: number) => ({
  topic: "t",
  event_id: `e${i}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "s",
  payload: { i }
})

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
})
