/**
 * Dead letters, end to end: a store-side rejection (a PostgreSQL trigger refusing one topic with a check
 * violation, which the workers cannot retry) sends exactly those events to the dead-letter stream while the rest
 * flow on. GET /dead-letters lists them with their events; a redrive while the cause is still there brings them
 * back to the dead letters (not lost, not counted twice); one is discarded; once the trigger is dropped a redrive
 * (admin key) commits the others exactly once. At every quiet point the stats hold
 * `received == unique_processed + duplicate_dropped + pending + dead_lettered + discarded`.
 */
import { checkResponse, type DeadLettersPage, DiscardReply, RedriveReply, type StatsBody } from "@agg/schema"
import { checkPostgres, checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeWorkload, type WireEvent } from "../utils/Events.ts"
import { getJson, waitFor } from "../utils/Http.ts"
import { getStats, publishAll } from "../utils/Publish.ts"
import { withServices } from "../utils/Services.ts"
import { startStack } from "../utils/Stack.ts"
import { query, verifyStore } from "../utils/Verify.ts"

const services = [await checkPostgres(), await checkRedis()]

const ADMIN = "e2e-admin-key"
const POISON_TOPIC = "r-poison"

const poison: ReadonlyArray<WireEvent> = Array.from({ length: 5 }, (_, i) => ({
  topic: POISON_TOPIC,
  event_id: `p${i + 1}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "e2e",
  payload: { i }
}))

const balanced = (s: StatsBody) =>
  s.received === s.unique_processed + s.duplicate_dropped + s.pending + (s.dead_lettered ?? 0) + (s.discarded ?? 0)

const request = (url: string, init: { method: string; body?: unknown; key?: string }) =>
  Effect.promise(async () => {
    const res = await fetch(url, {
      method: init.method,
      headers: {
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        ...(init.key === undefined ? {} : { authorization: `Bearer ${init.key}` })
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) })
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  })

describeWithServices("e2e: dead letters redriven after the cause is fixed", services, () => {
  it.live("rejected events are listed, survive a failed redrive, and commit exactly once once redriven", () =>
    withServices(
      Effect.gen(function* () {
        const stack = yield* startStack({ workers: 2, apiEnv: { ADMIN_API_KEYS: ADMIN } })
        // The cause: the store refuses the poison topic (SQLSTATE 23514, never retried: the batch is bisected and
        // the refused entries are dead-lettered).
        yield* query(
          stack.databaseUrl,
          `CREATE FUNCTION e2e_reject() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'the e2e test refuses this topic' USING ERRCODE = 'check_violation'; END $$`
        )
        yield* query(
          stack.databaseUrl,
          `CREATE TRIGGER e2e_reject BEFORE INSERT ON events FOR EACH ROW
           WHEN (NEW.topic = '${POISON_TOPIC}') EXECUTE FUNCTION e2e_reject()`
        )

        const workload = makeWorkload({ prefix: "r", total: 2_000, duplicateRatio: 0.2, topics: 3, seed: 11 })
        const events = [...workload.events.slice(0, 1000), ...poison, ...workload.events.slice(1000)]
        const published = yield* publishAll(stack.apiUrl, events, { batch: 100, concurrency: 4 })
        assert.strictEqual(published.accepted, events.length)
        assert.strictEqual(published.ambiguousAttempts, 0, "no ambiguous publish: the counts below are exact")

        const quiet = (label: string, done: (s: StatsBody) => boolean) =>
          waitFor(label, getStats(stack.apiUrl), (s) => s.pending === 0 && balanced(s) && done(s), {
            timeoutMs: 90_000,
            intervalMs: 200,
            context: stack.describe
          })
        const listed = () => getJson<DeadLettersPage>(`${stack.apiUrl}/dead-letters?limit=100`)

        // 1. Everything else is stored; the poison events are dead letters, listed with their events.
        let stats = yield* quiet("the poison dead-lettered", (s) => s.dead_lettered === poison.length)
        assert.strictEqual(stats.received, events.length)
        assert.strictEqual(stats.unique_processed, workload.unique)
        let page = yield* listed()
        assert.deepStrictEqual(
          page.dead_letters.map((d) => d.event?.event_id).sort(),
          poison.map((e) => e.event_id)
        )
        for (const d of page.dead_letters) assert.include(d.reason, "refuses this topic")

        // 2. Only the admin key may redrive.
        assert.strictEqual(
          (yield* request(`${stack.apiUrl}/dead-letters/redrive`, { method: "POST", body: { all: true } })).status,
          401
        )

        // 3. A redrive while the cause is still there: each comes back to the dead letters, counted once.
        const early = yield* request(`${stack.apiUrl}/dead-letters/redrive`, {
          method: "POST",
          body: { all: true },
          key: ADMIN
        })
        assert.deepStrictEqual(early, { status: 200, body: { redriven: poison.length, missing: [], skipped: [] } })
        assert.isTrue(checkResponse(RedriveReply, early.body).ok, "the answer clients check")
        stats = yield* quiet("the poison dead-lettered again", (s) => s.dead_lettered === poison.length)
        const again = yield* listed()
        assert.notDeepEqual(
          again.dead_letters.map((d) => d.id),
          page.dead_letters.map((d) => d.id),
          "new dead-letter ids"
        )
        page = again

        // 4. One is given up for good.
        const dropped = page.dead_letters[0]!
        const discarded = yield* request(`${stack.apiUrl}/dead-letters/${dropped.id}`, { method: "DELETE", key: ADMIN })
        assert.deepStrictEqual(discarded, { status: 200, body: { discarded: 1, missing: [] } })
        assert.isTrue(checkResponse(DiscardReply, discarded.body).ok, "the answer clients check")
        stats = yield* quiet("one discarded", (s) => s.discarded === 1 && s.dead_lettered === poison.length - 1)

        // 5. The cause is fixed; a redrive commits the rest, exactly once.
        yield* query(stack.databaseUrl, "DROP TRIGGER e2e_reject ON events")
        const ids = page.dead_letters.slice(1).map((d) => d.id)
        const redriven = yield* request(`${stack.apiUrl}/dead-letters/redrive`, {
          method: "POST",
          body: { ids },
          key: ADMIN
        })
        assert.deepStrictEqual(redriven, { status: 200, body: { redriven: ids.length, missing: [], skipped: [] } })
        stats = yield* quiet("the redriven events committed", (s) => s.dead_lettered === 0)
        assert.strictEqual(stats.unique_processed, workload.unique + ids.length)
        assert.strictEqual(stats.received, events.length, "a redrive appends nothing new to received")
        assert.strictEqual(stats.discarded, 1)
        const expected = new Map(workload.expected)
        expected.set(POISON_TOPIC, new Set(page.dead_letters.slice(1).map((d) => d.event!.event_id)))
        assert.strictEqual(yield* verifyStore(stack.databaseUrl, expected), workload.unique + ids.length)

        // 6. Redriving the same ids again finds nothing; the store holds each event once.
        const twice = yield* request(`${stack.apiUrl}/dead-letters/redrive`, {
          method: "POST",
          body: { ids },
          key: ADMIN
        })
        assert.deepStrictEqual(twice.body, { redriven: 0, missing: ids, skipped: [] })
        const stored = yield* getJson<{ offset: number }>(
          `${stack.apiUrl}/events/${POISON_TOPIC}/${encodeURIComponent(page.dead_letters[1]!.event!.event_id)}`
        )
        assert.isAtLeast(stored.offset, 1)
        assert.deepStrictEqual((yield* listed()).dead_letters, [])
      })
    )
  )
})
