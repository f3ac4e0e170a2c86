/**
 * Scenario e: entries that can never be processed end in the dead-letter stream `{<STREAM_KEY>:p0}:dlq`, counted, while
 * the events around them are stored exactly as usual.
 *
 * - Two undecodable entries written straight into the stream with XADD (no recognisable fields; the right fields
 *   holding broken JSON): dead-lettered unprocessed on delivery, with the reason.
 * - A valid entry that "keeps failing": read by a consumer that then vanishes, and re-claimed (XCLAIM) until it
 *   has used up WORKER_MAX_DELIVERIES, as if every worker that took it had crashed. The next delivery, by a
 *   worker's reclaim pass, goes to the dead-letter stream instead of the store.
 */
import { RedisEntry, StreamKeys } from "@agg/storage"
import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeWorkload } from "../utils/Events.ts"
import { waitFor } from "../utils/Http.ts"
import { publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { startStack } from "../utils/Stack.ts"
import { pendingByConsumer, verifyStats, verifyStore, waitDrained, withRedis } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

const MAX_DELIVERIES = 3

describeWithServices("e2e: poison entries", services, () => {
  it.live("e. undecodable and crash-looping entries are dead-lettered and counted; the others flow on", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({
          workers: 0,
          workerEnv: {
            WORKER_MAX_DELIVERIES: String(MAX_DELIVERIES),
            WORKER_RECLAIM_IDLE_MS: "500",
            WORKER_RECLAIM_INTERVAL_MS: "250"
          }
        })
        const keys = StreamKeys.make(stack.streamKey)
        const { group } = keys
        const stream = keys.partition(0).stream
        const crashLooper = {
          topic: "e-poison",
          event_id: "crash-looper",
          timestamp: "2026-11-21T10:00:00.000Z",
          source: "e2e",
          payload: { kills: "every worker" }
        }
        // Before any worker runs: write the poison, let a ghost consumer take it all, and use up the deliveries
        // of the valid one (XCLAIM counts a delivery each time).
        const ids = yield* withRedis(stack.redisUrl, async (r) => {
          const garbage = await r.xAdd(stream, "*", { garbage: "not an event" })
          const brokenJson = await r.xAdd(stream, "*", { v: "1", e: "{not json" })
          const looper = await r.xAdd(stream, "*", RedisEntry.encode(crashLooper))
          await r.xReadGroup(group, "ghost", { key: stream, id: ">" }, { COUNT: 10 })
          for (let d = 1; d < MAX_DELIVERIES; d++) await r.xClaim(stream, group, "ghost", 0, looper)
          return { garbage, brokenJson, looper }
        })
        const ghost = (yield* pendingByConsumer(stack.redisUrl, stack.streamKey)).get("ghost")
        assert.strictEqual(ghost, 3, "the ghost consumer holds the three poison entries")

        yield* Effect.all([stack.startWorker, stack.startWorker, stack.startWorker], { concurrency: "unbounded" })
        const workload = makeWorkload({ prefix: "e", total: 4_000, duplicateRatio: 0.3, topics: 4, seed: 5 })
        const published = yield* publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4 })
        assert.strictEqual(published.accepted, workload.events.length)

        const dlqKey = keys.partition(0).deadLetter
        const dead = yield* waitFor(
          `the three poison entries in ${dlqKey}`,
          withRedis(stack.redisUrl, async (r) => (await r.xRange(dlqKey, "-", "+")) ?? []),
          (entries) => entries.length >= 3,
          { timeoutMs: 60_000, intervalMs: 100, context: stack.describe }
        )
        const byId = new Map(dead.map((d) => [d.message.id, d.message]))
        assert.strictEqual(byId.size, 3, JSON.stringify(dead))
        assert.include(byId.get(ids.garbage)?.reason, "undecodable")
        assert.include(byId.get(ids.brokenJson)?.reason, "undecodable")
        const looper = byId.get(ids.looper)
        assert.include(looper?.reason, `max ${MAX_DELIVERIES}`)
        assert.strictEqual(Number(looper?.deliveries), MAX_DELIVERIES + 1, "dead-lettered on the delivery past the max")

        const stats = yield* waitDrained(stack.apiUrl, { minReceived: published.accepted, context: stack.describe })
        yield* verifyStats(stats, {
          unique: workload.unique,
          topics: workload.expected.keys(),
          minReceived: published.accepted,
          maxReceived: published.accepted + published.ambiguousEvents
        })
        assert.strictEqual(stats.dead_lettered, 3, `the dead letters are counted: ${JSON.stringify(stats)}`)
        // The crash-looper was never stored: only the workload's events are (verifyStore rejects other topics).
        assert.strictEqual(yield* verifyStore(stack.databaseUrl, workload.expected), workload.unique)
        assert.deepStrictEqual([...(yield* pendingByConsumer(stack.redisUrl, stack.streamKey))], [])
      })
    )
  )
})
