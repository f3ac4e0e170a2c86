/**
 * Scenario f: a reader paging one topic with `after` while 3 workers commit into it sees
 * every event of that topic exactly once, in offset order: each event it reads has offset previous + 1, so no
 * commit can ever surface below an offset already read (a gap that is filled later would be missed). Beside it, a
 * reader paging all topics (storage order) sees every stored event exactly once.
 */

import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { makeWorkload } from "../utils/Events.ts"
import { getJson } from "../utils/Http.ts"
import { type EventsPage, publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { startStack } from "../utils/Stack.ts"
import { verifyDrained } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

describeWithServices("e2e: reading while writing", services, () => {
  it.live(
    "f. readers paging one topic, and all topics, with `after` during the run see each event once, in order",
    () =>
      withServices(
        Effect.gen(function* () {
          const stack = yield* startStack({ workers: 3 })
          // Few topics, so every batch of every worker touches the topic being read.
          const workload = makeWorkload({ prefix: "f", total: 12_000, duplicateRatio: 0.3, topics: 3, seed: 6 })
          const topic = "f-t0"
          const wanted = workload.expected.get(topic)
          if (wanted === undefined) return assert.fail("workload has no topic f-t0")

          const publishing = yield* Effect.forkChild(
            publishAll(stack.apiUrl, workload.events, { batch: 100, concurrency: 4 })
          )

          // Page until every event of the topic was seen; varying page sizes, no pause between non-empty pages.
          const reader = yield* Effect.forkChild(
            Effect.gen(function* () {
              const seen = new Set<string>()
              let after = 0
              let pages = 0
              // Times the reader reached the head of the topic (a short page) before it was complete: reading at the head
              // while commits land is where a later commit with a lower offset would be missed.
              let headReadsMidRun = 0
              const deadline = (yield* Clock.currentTimeMillis) + 120_000
              while (seen.size < wanted.size) {
                if ((yield* Clock.currentTimeMillis) > deadline)
                  return yield* Effect.die(`reader saw ${seen.size} of ${wanted.size} events of ${topic} in 120 s`)
                const limit = [1, 7, 100, 1000][pages % 4] as number
                const page = yield* getJson<EventsPage>(
                  `${stack.apiUrl}/events?topic=${encodeURIComponent(topic)}&after=${after}&limit=${limit}`
                )
                pages++
                assert.isAtMost(page.events.length, limit)
                for (const event of page.events) {
                  assert.strictEqual(event.topic, topic)
                  assert.strictEqual(event.offset, after + 1, `offset after ${after} (page ${pages})`)
                  assert.isFalse(seen.has(event.event_id), `event ${event.event_id} read twice`)
                  assert.isTrue(wanted.has(event.event_id), `unexpected event ${event.event_id}`)
                  seen.add(event.event_id)
                  after = event.offset
                }
                if (page.events.length < limit && seen.size < wanted.size) headReadsMidRun++
                if (page.events.length === 0) yield* Effect.sleep(10)
              }
              return { seen: seen.size, pages, headReadsMidRun }
            })
          )

          // All topics, in storage order, tailed the way a user would: pass `next_after` back, short pages too. An
          // event committed below the cursor after the reader passed would never be read, and the set would stay
          // short; positions must rise strictly.
          const allReader = yield* Effect.forkChild(
            Effect.gen(function* () {
              const seen = new Set<string>()
              let after = 0
              const deadline = (yield* Clock.currentTimeMillis) + 120_000
              while (seen.size < workload.unique) {
                if ((yield* Clock.currentTimeMillis) > deadline)
                  return yield* Effect.die(`all-topics reader saw ${seen.size} of ${workload.unique} events in 120 s`)
                const page = yield* getJson<EventsPage>(`${stack.apiUrl}/events?after=${after}&limit=100`)
                for (const event of page.events) {
                  const key = `${event.topic}/${event.event_id}`
                  assert.isFalse(seen.has(key), `${key} read twice across all topics`)
                  assert.isTrue(workload.expected.get(event.topic)?.has(event.event_id), `unexpected ${key}`)
                  assert.isAbove(event.position!, after, "positions rise strictly")
                  after = event.position!
                  seen.add(key)
                }
                assert.strictEqual(page.next_after, after, "next_after is the last position, or the cursor")
                if (page.events.length === 0) yield* Effect.sleep(10)
              }
              return seen.size
            })
          )

          const published = yield* Fiber.join(publishing)
          const read = yield* Fiber.join(reader)
          assert.strictEqual(yield* Fiber.join(allReader), workload.unique)
          assert.strictEqual(read.seen, wanted.size)
          assert.isAbove(read.headReadsMidRun, 0, "the reader caught up with the writers before the topic was complete")

          yield* verifyDrained(stack, workload, published)
        })
      )
  )
})
