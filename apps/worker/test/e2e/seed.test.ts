/**
 * Scenario a, the seeds' scenario: 20,000 events with 30% exact duplicates published over HTTP to the
 * api (queued mode), drained by 3 worker processes into PostgreSQL, then verified exactly: one row per key,
 * offsets 1..count per topic, /stats adding up with nothing pending, no entry left pending in the group. The
 * workers' own figures (WORKER_METRICS_PORT) agree, and their maintenance trims the acknowledged stream entries.
 */

import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeWorkload } from "../utils/Events.ts"
import { waitFor } from "../utils/Http.ts"
import { getStats, publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { startStack } from "../utils/Stack.ts"
import { pendingByConsumer, streamLength, verifyStats, verifyStore, waitDrained } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

describeWithServices("e2e: api + 3 workers on real PostgreSQL and Redis", services, () => {
  it.live("a. 20,000 events with 30% duplicates are stored exactly once, gap-free, with exact stats", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 3 })
        const workload = makeWorkload({ prefix: "a", total: 20_000, duplicateRatio: 0.3, topics: 8, seed: 1 })
        assert.strictEqual(workload.unique, 14_000)

        const published = yield* publishAll(stack.apiUrl, workload.events, { batch: 250, concurrency: 8 })
        assert.strictEqual(published.accepted, 20_000)

        const stats = yield* waitDrained(stack.apiUrl, { minReceived: 20_000, context: stack.describe })
        yield* verifyStats(stats, {
          unique: 14_000,
          topics: workload.expected.keys(),
          minReceived: 20_000,
          maxReceived: 20_000 + published.ambiguousEvents
        })
        assert.strictEqual(stats.duplicate_dropped, stats.received - 14_000)
        assert.strictEqual(stats.conflicts, 0, "exact repeats are duplicates, not conflicts")
        assert.strictEqual(yield* verifyStore(stack.databaseUrl, workload.expected), 14_000)
        assert.deepStrictEqual([...(yield* pendingByConsumer(stack.redisUrl, stack.streamKey))], [])
        for (const worker of stack.workers()) assert.isTrue(worker.status()._tag === "None", `${worker.name} exited`)

        // The workers' own figures (WORKER_METRICS_PORT), summed over the replicas, tell the same story.
        const figures = yield* stack.workerMetrics
        const figure = (name: string) => figures.get(`agg_worker_${name}`)
        assert.strictEqual(figure("events_unique_total"), 14_000)
        assert.strictEqual(figure("events_duplicate_total"), stats.duplicate_dropped)
        assert.strictEqual((figure("events_total") ?? 0) - (figure("events_redelivered_total") ?? 0), stats.received)
        assert.strictEqual(figure("dead_lettered_total"), 0)
        assert.isAbove(figure("batches_total") ?? 0, 0)

        // The workers' maintenance trims what every group acknowledged; the figures stay exact afterwards.
        yield* waitFor(
          "the acknowledged entries to be trimmed from the stream",
          streamLength(stack.redisUrl, stack.streamKey),
          (length) => length === 0,
          { timeoutMs: 30_000, intervalMs: 100, context: stack.describe }
        )
        const after = yield* getStats(stack.apiUrl)
        assert.deepStrictEqual(
          [after.received, after.unique_processed, after.duplicate_dropped, after.pending],
          [stats.received, stats.unique_processed, stats.duplicate_dropped, 0]
        )
      })
    )
  )
})
