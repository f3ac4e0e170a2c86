/**
 * Consumer liveness under load: one of three workers is killed with -9 while it holds a batch; its heartbeat key
 * expires and the others take its entries over within a few seconds (not after a fixed 30 s idle time), commit
 * them, and remove the dead consumer from the group. Observed through the group's pending and consumer state,
 * never a fixed sleep; ends with the exact verification (no loss, no double, offsets 1..n, stats, nothing pending).
 */
import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { makeWorkload } from "../utils/Events.ts"
import { waitFor } from "../utils/Http.ts"
import { publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { startStack } from "../utils/Stack.ts"
import { consumerIdle, killWorkerHoldingBatch, pendingByConsumer, progressed, verifyDrained } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

// The workers' production liveness settings: a 3 s heartbeat key, reclaim passes every second.
const workerEnv = {
  WORKER_HEARTBEAT_TTL_MS: "3000",
  WORKER_RECLAIM_INTERVAL_MS: "1000",
  WORKER_RECLAIM_IDLE_MS: "3000"
}

describeWithServices("e2e: consumer liveness", services, () => {
  it.live("kill -9 of one of 3 workers under load: its entries move to the others within a few seconds", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 3, workerEnv })
        const workload = makeWorkload({ prefix: "lv", total: 12_000, duplicateRatio: 0.3, topics: 6, seed: 21 })
        const publishing = yield* Effect.forkChild(
          // Paced (about 5 s in all), so entries keep arriving after the topic rows are locked: a worker is certain to
          // read some and hold them, blocked in its commit, however fast the first 1,000 were stored.
          publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4, batchIntervalMs: 40 })
        )
        yield* progressed(stack, 1_000)
        const { name, killedAt, orphaned } = yield* Effect.scoped(
          Effect.gen(function* () {
            // Topic rows stay locked until this scope closes.
            const killed = yield* killWorkerHoldingBatch(stack)
            // The claim moves the entries even while the others' commits wait on the locked rows.
            yield* waitFor(
              `${killed.name}'s entries taken over`,
              pendingByConsumer(stack.redisUrl, stack.streamKey),
              (p) => (p.get(killed.name) ?? 0) === 0,
              { timeoutMs: 20_000, intervalMs: 50, context: stack.describe }
            )
            return killed
          })
        )
        const movedAfter = (yield* Clock.currentTimeMillis) - killedAt
        assert.isAbove(orphaned, 0, "the killed worker left entries pending")
        // Heartbeat ttl (3 s) + one reclaim interval (1 s), plus scheduling noise on a busy machine.
        assert.isAtMost(movedAfter, 6_500, `taken over ${movedAfter} ms after the kill`)
        yield* waitFor(
          `${name} removed from the group`,
          consumerIdle(stack.redisUrl, stack.streamKey),
          (idle) => !idle.has(name),
          { timeoutMs: 10_000, intervalMs: 100, context: stack.describe }
        )
        const metrics = yield* stack.workerMetrics
        assert.isAtLeast(metrics.get("agg_worker_reclaimed_total") ?? 0, orphaned)
        const published = yield* Fiber.join(publishing)
        assert.strictEqual(published.accepted, workload.events.length)
        yield* verifyDrained(stack, workload, published)
        assert.deepStrictEqual([...(yield* pendingByConsumer(stack.redisUrl, stack.streamKey))], [])
      })
    )
  )
})
