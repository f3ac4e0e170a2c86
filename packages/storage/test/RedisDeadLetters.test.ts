// The dead-letter stream of RedisEventLog on a real Redis, beyond the contract suite: an undecodable entry is
// listed with its raw fields in base64 and comes back, still undecodable, when redriven; an entry lost from the
// stream is listed as Lost and skipped by redrive; the cap drops the oldest dead letters as discarded, in the
// same step, so the counters always add up.
import { checkRedis, describeWithServices, useRedisPrefix } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { createClient } from "redis"
import * as RedisEventLog from "../src/redis/RedisEventLog.ts"

const redis = await checkRedis()
const short = { count: 100, block: Duration.millis(20) }
const event = (i: number) => ({
  topic: "redis.dlq",
  event_id: `e${i}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "test",
  payload: { i }
})

describeWithServices("RedisEventLog dead letters", [redis], () => {
  const keys = useRedisPrefix()
  let n = 0
  const setup = (deadLetterCap?: number) =>
    Effect.gen(function* () {
      const log = yield* RedisEventLog.makeScoped({
        url: keys.url,
        streamKey: `${keys.prefix}:d${++n}`,
        partitions: 1,
        ...(deadLetterCap === undefined ? {} : { deadLetterCap })
      })
      const raw = yield* Effect.acquireRelease(
        Effect.promise(() => createClient({ url: keys.url, RESP: 2 }).connect()),
        (c) => Effect.sync(() => c.destroy())
      )
      return { ...log, raw }
    })

  it.live("an undecodable entry is listed with its raw fields in base64, and a redrive brings it back as it was", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup()
      const p0 = k.partition(0)
      // A foreign write: counted as received, but not in our format.
      yield* Effect.promise(() =>
        raw.multi().xAdd(p0.stream, "*", { v: "1", e: "{not json ü" }).incr(p0.received).exec()
      )
      const [entry] = yield* log.read("c1", short)
      assert.strictEqual(entry?._tag, "Undecodable")
      yield* log.deadLetter(entry!, "undecodable")
      const [listed] = (yield* log.deadLetters({ limit: 10 })).entries
      assert.deepStrictEqual(listed?.content, {
        _tag: "Undecodable",
        raw: { v: Buffer.from("1").toString("base64"), e: Buffer.from("{not json ü").toString("base64") }
      })
      assert.deepStrictEqual(yield* log.redrive([listed!.id]), { count: 1, missing: [], skipped: [] })
      const [again] = yield* log.read("c1", short)
      assert.strictEqual(again?._tag, "Undecodable", "the same fields, still undecodable")
      yield* log.deadLetter(again!, "undecodable")
      assert.deepStrictEqual(yield* log.stats, { received: 1, lag: 0, pending: 0, deadLettered: 1, discarded: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("an entry lost from the stream is listed as Lost, skipped by redrive, and can be discarded", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup()
      yield* log.append([event(1)])
      const [entry] = yield* log.read("dead", short)
      yield* Effect.promise(() => raw.xDel(k.partition(0).stream, entry!.id))
      assert.deepStrictEqual(yield* log.reclaim("c2", { minIdle: Duration.zero, count: 10 }), [])
      const [listed] = (yield* log.deadLetters({ limit: 10 })).entries
      assert.deepStrictEqual([listed?.entry.id, listed?.content, listed?.deliveries], [entry!.id, { _tag: "Lost" }, 0])
      assert.deepStrictEqual(yield* log.redrive([listed!.id]), { count: 0, missing: [], skipped: [listed!.id] })
      assert.deepStrictEqual(yield* log.redrive("all"), { count: 0, missing: [], skipped: [listed!.id] })
      assert.deepStrictEqual(yield* log.discard([listed!.id]), { count: 1, missing: [], skipped: [] })
      assert.deepStrictEqual(yield* log.stats, { received: 1, lag: 0, pending: 0, deadLettered: 0, discarded: 1 })
    }).pipe(Effect.scoped)
  )

  it.live("the cap drops the oldest dead letters, counted as discarded in the same step", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup(2)
      yield* log.append([1, 2, 3, 4].map(event))
      const got = yield* log.read("c1", short)
      for (const entry of got.slice(0, 3)) yield* log.deadLetter(entry, "poison")
      assert.deepStrictEqual(yield* log.stats, { received: 4, lag: 0, pending: 1, deadLettered: 2, discarded: 1 })
      const listed = (yield* log.deadLetters({ limit: 10 })).entries
      assert.deepStrictEqual(
        listed.map((d) => d.entry.id),
        [got[1]!.id, got[2]!.id],
        "the oldest went"
      )
      assert.strictEqual(yield* Effect.promise(() => raw.xLen(k.partition(0).deadLetter)), 2)
      yield* log.deadLetter(got[3]!, "poison")
      assert.deepStrictEqual(yield* log.stats, { received: 4, lag: 0, pending: 0, deadLettered: 2, discarded: 2 })
    }).pipe(Effect.scoped)
  )
})
