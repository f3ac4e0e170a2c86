/**
 * The deployment on a Redis Cluster (a private 3-master cluster, `REDIS_CLUSTER_NODES`, 8 partitions spread over
 * the masters): replicas share the partitions out and rebalance when one joins under load and when one is killed
 * with -9 while it holds entries; the dead one's pending entries move to the new owners of its partitions. Observed
 * through GET /consumers (the product's own view of the group, which works the same on a cluster), never a fixed
 * sleep; ends with the exact verification (no loss, no double, offsets 1..n per topic, stats, nothing pending).
 */
import type { ConsumersBody } from "@agg/schema"
import { usePrivateRedisCluster } from "@agg/testing/PrivateRedisCluster"
import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { makeWorkload } from "../utils/Events.ts"
import { getJson, waitFor } from "../utils/Http.ts"
import { publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { type Stack, startStack } from "../utils/Stack.ts"
import { lockTopics, progressed, verifyDrained } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

const PARTITIONS = 8
const liveness = {
  PARTITIONS: String(PARTITIONS),
  WORKER_HEARTBEAT_TTL_MS: "3000",
  WORKER_RECLAIM_INTERVAL_MS: "1000",
  WORKER_RECLAIM_IDLE_MS: "3000"
}

const consumers = (stack: Stack) =>
  getJson<ConsumersBody>(`${stack.apiUrl}/consumers`).pipe(Effect.map((body) => body.consumers))

/** The live consumers are exactly `names`, and their shares are disjoint and cover every partition. */
const sharedOutAmong = (names: ReadonlyArray<string>) => (list: ConsumersBody["consumers"]) => {
  const live = list.filter((c) => c.alive)
  if (live.map((c) => c.name).join() !== [...names].sort().join()) return false
  const owned = live.flatMap((c) => c.partitions)
  return (
    live.every((c) => c.partitions.length > 0) &&
    owned.length === PARTITIONS &&
    new Set(owned).size === PARTITIONS &&
    owned.every((p) => p >= 0 && p < PARTITIONS)
  )
}

describeWithServices("e2e: replicas on a Redis Cluster", services, () => {
  const cluster = usePrivateRedisCluster()

  it.live(
    "partitions are shared out, rebalanced when a worker joins and when one is killed -9 holding entries; exact",
    () =>
      withServices(
        Effect.gen(function* () {
          const stack = yield* startStack({
            workers: 2,
            redisEnv: { REDIS_CLUSTER_NODES: cluster().rootNodes },
            apiEnv: { PARTITIONS: String(PARTITIONS) },
            workerEnv: liveness
          })
          const view = { timeoutMs: 20_000, intervalMs: 100, context: stack.describe }
          yield* waitFor("w1 and w2 to share the partitions", consumers(stack), sharedOutAmong(["w1", "w2"]), view)

          const workload = makeWorkload({ prefix: "cl", total: 12_000, duplicateRatio: 0.3, topics: 8, seed: 17 })
          const publishing = yield* Effect.forkChild(
            // Paced (about 5 s), so entries keep arriving through the rebalances.
            publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4, batchIntervalMs: 40 })
          )
          yield* progressed(stack, 1_000)

          // A third replica joins under load: everyone's share shrinks at their next heartbeat.
          yield* stack.startWorker
          yield* waitFor(
            "w1, w2 and w3 to share the partitions",
            consumers(stack),
            sharedOutAmong(["w1", "w2", "w3"]),
            view
          )

          // w1 dies holding a batch (the topic rows are locked, so its commit cannot finish before the kill).
          const orphaned = yield* Effect.scoped(
            Effect.gen(function* () {
              yield* lockTopics(stack.databaseUrl)
              const held = yield* waitFor(
                "w1 to hold unacknowledged entries",
                consumers(stack),
                (list) => (list.find((c) => c.name === "w1")?.pending ?? 0) > 0,
                { ...view, intervalMs: 5 }
              )
              const [w1] = stack.workers()
              yield* w1!.kill("SIGKILL")
              assert.strictEqual((yield* w1!.exit).signal, "SIGKILL")
              return held.find((c) => c.name === "w1")?.pending ?? 0
            })
          )
          assert.isAbove(orphaned, 0, "the killed worker left entries pending")
          // Its mark expires, the survivors take its partitions and its pending entries, and it leaves the group.
          yield* waitFor("w2 and w3 to own every partition", consumers(stack), sharedOutAmong(["w2", "w3"]), view)
          yield* waitFor(
            "w1's entries taken over and w1 removed",
            consumers(stack),
            (list) => list.every((c) => c.name !== "w1"),
            view
          )

          const published = yield* Fiber.join(publishing)
          assert.strictEqual(published.accepted, workload.events.length)
          yield* verifyDrained(stack, workload, published)
          const after = yield* consumers(stack)
          assert.deepStrictEqual(
            after.filter((c) => c.pending > 0),
            [],
            "nothing pending for anyone"
          )
          const metrics = yield* stack.workerMetrics
          assert.isAtLeast(metrics.get("agg_worker_reclaimed_total") ?? 0, 1, "the survivors reclaimed w1's entries")
        })
      ),
    180_000
  )
})
