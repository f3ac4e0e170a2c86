/**
 * Scenario g: the api is stopped (SIGTERM, then later kill -9) and started again mid-run while the
 * publisher keeps sending and retrying. Every event the api acknowledged is stored exactly once; the graceful stop
 * exits 0; a retried request that the api had in fact appended shows up only as extra duplicates in `received`.
 */

import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { makeWorkload } from "../utils/Events.ts"
import { waitFor } from "../utils/Http.ts"
import { getStats, publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { type Stack, startStack } from "../utils/Stack.ts"
import { pendingByConsumer, verifyDrained } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

const received = (stack: Stack, atLeast: number) =>
  waitFor(`the api to have received ${atLeast} events`, getStats(stack.apiUrl), (s) => s.received >= atLeast, {
    timeoutMs: 60_000,
    intervalMs: 20,
    context: stack.describe
  })

describeWithServices("e2e: api restarts", services, () => {
  it.live("g. the api restarted twice mid-run while the publisher retries: nothing acknowledged is lost", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 3 })
        const workload = makeWorkload({ prefix: "g", total: 12_000, duplicateRatio: 0.3, topics: 6, seed: 7 })
        // Enough attempts to ride out a restart (backoff capped at 1 s).
        const publishing = yield* Effect.forkChild(
          publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4, maxAttempts: 60 })
        )

        yield* received(stack, 2_000)
        const graceful = stack.api()
        yield* graceful.kill("SIGTERM")
        assert.deepStrictEqual(yield* graceful.exit, { code: 0, signal: null }, "the api exits 0 on SIGTERM")
        yield* stack.restartApi

        yield* received(stack, 6_000)
        const crashed = stack.api()
        yield* crashed.kill("SIGKILL")
        assert.strictEqual((yield* crashed.exit).signal, "SIGKILL")
        yield* stack.restartApi

        const published = yield* Fiber.join(publishing)
        assert.strictEqual(published.accepted, workload.events.length)
        assert.isAbove(published.retries, 0, "the publisher had to retry while the api was down")
        yield* verifyDrained(stack, workload, published)
        assert.deepStrictEqual([...(yield* pendingByConsumer(stack.redisUrl, stack.streamKey))], [])
      })
    )
  )
})
