/**
 * Scenarios b, c and d: workers die or lose their database connections while batches are in flight, under continuous
 * publishing; plus h, the crash between commit and XACK (docs/invariants.md, exact stats). Each test runs its own api
 * and workers on its own database and stream, and ends with the same exact verification: no loss, no double, offsets
 * 1..count, /stats exact, nothing left pending.
 */
import { EventLog, EventStore } from "@agg/core"
import { PgEventStore, RedisEventLog } from "@agg/storage"
import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option } from "effect"
import { makeWorkload, type Workload } from "../utils/Events.ts"
import { type PublishSummary, publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { type Stack, startStack, WORKER_APPLICATION_NAME } from "../utils/Stack.ts"
import { killWorkerHoldingBatch, pendingByConsumer, progressed, query, verifyDrained } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

const TOTAL = 12_000

/** After the publisher finished: drain, then check every invariant exactly. */
const verifyAll = (stack: Stack, workload: Workload, published: PublishSummary) =>
  Effect.gen(function* () {
    assert.strictEqual(published.accepted, workload.events.length)
    yield* verifyDrained(stack, workload, published)
    assert.deepStrictEqual([...(yield* pendingByConsumer(stack.redisUrl, stack.streamKey))], [])
  })

// Paced (about 5 s in all), so entries keep arriving while a test holds the topic rows or kills a worker, however
// fast the machine drains.
const publishInBackground = (stack: Stack, workload: Workload) =>
  Effect.forkChild(publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4, batchIntervalMs: 40 }))

describeWithServices("e2e: workers crashing under load", services, () => {
  it.live("b. kill -9 of a worker holding a batch, then a new worker: nothing lost or doubled", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 3 })
        const workload = makeWorkload({ prefix: "b", total: TOTAL, duplicateRatio: 0.3, topics: 6, seed: 2 })
        const publishing = yield* publishInBackground(stack, workload)
        yield* progressed(stack, 1_000)

        // Kill a worker while it holds entries it has read but not acknowledged (a batch in flight).
        yield* Effect.scoped(
          Effect.gen(function* () {
            const { orphaned } = yield* killWorkerHoldingBatch(stack)
            assert.isAbove(orphaned, 0, "the killed worker left entries pending (they must be reclaimed)")
          })
        )
        yield* stack.startWorker

        yield* verifyAll(stack, workload, yield* Fiber.join(publishing))
      })
    )
  )

  it.live("c. SIGTERM to every worker mid-run: each acks what it holds and exits 0; restarted workers finish", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 3 })
        const workload = makeWorkload({ prefix: "c", total: TOTAL, duplicateRatio: 0.3, topics: 6, seed: 3 })
        const publishing = yield* publishInBackground(stack, workload)
        yield* progressed(stack, 1_000)

        const first = [...stack.workers()]
        yield* Effect.forEach(first, (w) => w.kill("SIGTERM"), { discard: true })
        const exits = yield* Effect.forEach(first, (w) => w.exit.pipe(Effect.timeout("20 seconds")))
        assert.deepStrictEqual(
          exits.map((e) => e.code),
          first.map(() => 0),
          `every worker exits 0 on SIGTERM: ${JSON.stringify(exits)}`
        )
        // Graceful: whatever each worker had read it committed and acknowledged before exiting.
        const pending = yield* pendingByConsumer(stack.redisUrl, stack.streamKey)
        for (const w of ["w1", "w2", "w3"]) assert.strictEqual(pending.get(w) ?? 0, 0, `${w} left entries pending`)

        yield* Effect.all([stack.startWorker, stack.startWorker, stack.startWorker], { concurrency: "unbounded" })
        yield* verifyAll(stack, workload, yield* Fiber.join(publishing))
      })
    )
  )

  it.live("d. the workers' PostgreSQL connections terminated mid-run: workers recover by themselves", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 3 })
        const workload = makeWorkload({ prefix: "d", total: TOTAL, duplicateRatio: 0.3, topics: 6, seed: 4 })
        const publishing = yield* publishInBackground(stack, workload)

        let terminated = 0
        for (const threshold of [1_000, 3_000, 5_000]) {
          yield* progressed(stack, threshold)
          const rows = yield* query<{ terminated: boolean }>(
            stack.databaseUrl,
            `select pg_terminate_backend(pid) as terminated from pg_stat_activity
              where application_name = $1 and datname = $2 and pid <> pg_backend_pid()`,
            [WORKER_APPLICATION_NAME, stack.databaseName]
          )
          terminated += rows.filter((r) => r.terminated).length
        }
        assert.isAbove(terminated, 0, "worker connections were found by application_name and terminated")

        yield* verifyAll(stack, workload, yield* Fiber.join(publishing))
        for (const w of stack.workers()) assert.isTrue(Option.isNone(w.status()), `${w.name} stayed up`)
      })
    )
  )
  it.live("h. a batch committed but never acknowledged (crash between commit and XACK) is not counted twice", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 0 })
        const workload = makeWorkload({ prefix: "h", total: 3_000, duplicateRatio: 0.3, topics: 3, seed: 8 })
        const published = yield* publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4 })

        // A consumer "crasher" reads 500 entries and commits them with the real adapters, then dies before its
        // XACK: the entries stay pending for it although their events are stored.
        const outcomes = yield* Effect.gen(function* () {
          const log = yield* EventLog.EventLog
          const store = yield* EventStore.EventStore
          const entries = yield* log.read("crasher", { count: 500, block: Duration.millis(100) })
          const deliveries = entries.flatMap((e) =>
            e._tag === "Event" ? [{ deliveryId: { stream: e.stream, id: e.id }, event: e.event }] : []
          )
          return yield* store.commit(deliveries)
        }).pipe(
          Effect.provide(
            Layer.mergeAll(
              PgEventStore.layer({ url: stack.databaseUrl, poolSize: 1 }),
              RedisEventLog.layer({ url: stack.redisUrl, streamKey: stack.streamKey })
            )
          )
        )
        assert.strictEqual(outcomes.length, 500)
        assert.strictEqual((yield* pendingByConsumer(stack.redisUrl, stack.streamKey)).get("crasher"), 500)

        // The workers take the rest, reclaim the crasher's 500 once idle, and find them already committed.
        yield* Effect.all([stack.startWorker, stack.startWorker, stack.startWorker], { concurrency: "unbounded" })
        yield* verifyAll(stack, workload, published)
        const figures = yield* stack.workerMetrics
        // At least: a live worker's slow batch may also be reclaimed (idle > 2 s) and recognised the same way.
        assert.isAtLeast(figures.get("agg_worker_events_redelivered_total") ?? 0, 500, "recognised as redelivered")
        assert.isAtLeast(figures.get("agg_worker_reclaimed_total") ?? 0, 500, "reclaimed from the crasher")
      })
    )
  )
})
