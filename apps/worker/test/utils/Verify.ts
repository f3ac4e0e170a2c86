/**
 * The invariants of docs/invariants.md, checked exactly after a drain: against the PostgreSQL tables themselves (one
 * row per key, offsets 1..count per topic, exactly the expected ids), against GET /stats (counters add up, nothing
 * pending) and against Redis (no entry left pending for any consumer).
 *
 * Deliberately does not wait: call it at a quiet point (see `waitDrained`).
 */
import { StreamKeys } from "@agg/storage"
import { assert } from "@effect/vitest"
import { Clock, Data, Effect, type Scope } from "effect"
import pg from "pg"
import { createClient } from "redis"
import type { Workload } from "./Events.ts"
import { waitFor } from "./Http.ts"
import { getStats, type PublishSummary, type Stats } from "./Publish.ts"
import type { Stack } from "./Stack.ts"

/** An invariant that does not hold, with what was found. */
export class InvariantViolated extends Data.TaggedError("InvariantViolated")<{ readonly message: string }> {}

const violated = (message: string) => Effect.fail(new InvariantViolated({ message }))

/** Run one query on a short-lived connection. */
export const query = <R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: ReadonlyArray<unknown> = []
): Effect.Effect<ReadonlyArray<R>, InvariantViolated> =>
  Effect.tryPromise({
    try: async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        return (await client.query<R>(text, [...values])).rows
      } finally {
        await client.end()
      }
    },
    catch: (cause) => new InvariantViolated({ message: `query failed: ${text}: ${String(cause)}` })
  })

/** Wait until the api reports nothing pending and every published event accounted for. */
export const waitDrained = (
  apiUrl: string,
  options: { readonly minReceived: number; readonly timeoutMs?: number; readonly context?: () => string }
) =>
  waitFor(
    `a drained stream (pending == 0, received >= ${options.minReceived}, received == unique + duplicates)`,
    getStats(apiUrl),
    (s) =>
      s.pending === 0 && s.received >= options.minReceived && s.received === s.unique_processed + s.duplicate_dropped,
    {
      timeoutMs: options.timeoutMs ?? 90_000,
      intervalMs: 200,
      ...(options.context ? { context: options.context } : {})
    }
  )

/**
 * The stored rows are exactly `expected`: for each topic, one row per expected id and no other, offsets exactly
 * 1..count; no topic that was not expected.
 */
export const verifyStore = (databaseUrl: string, expected: ReadonlyMap<string, ReadonlySet<string>>) =>
  Effect.gen(function* () {
    // int8 arrives as text from node-postgres; order by the numeric column, not the text alias.
    const rows = yield* query<{ topic: string; event_id: string; off: string }>(
      databaseUrl,
      `select topic, event_id, "offset"::text as off from events order by topic, "offset"`
    )
    const byTopic = new Map<string, Array<{ event_id: string; offset: number }>>()
    for (const row of rows) {
      const list = byTopic.get(row.topic) ?? []
      list.push({ event_id: row.event_id, offset: Number(row.off) })
      byTopic.set(row.topic, list)
    }
    const unexpected = [...byTopic.keys()].filter((t) => !expected.has(t))
    if (unexpected.length > 0) return yield* violated(`unexpected topics stored: ${unexpected.join(", ")}`)
    for (const [topic, ids] of expected) {
      const stored = byTopic.get(topic) ?? []
      if (stored.length !== ids.size)
        return yield* violated(`topic ${topic}: ${stored.length} rows stored, ${ids.size} expected`)
      const seen = new Set<string>()
      for (const [i, row] of stored.entries()) {
        if (row.offset !== i + 1)
          return yield* violated(`topic ${topic}: offset ${row.offset} at position ${i + 1} (offsets not 1..count)`)
        if (seen.has(row.event_id)) return yield* violated(`topic ${topic}: event ${row.event_id} stored twice`)
        if (!ids.has(row.event_id)) return yield* violated(`topic ${topic}: unexpected event ${row.event_id}`)
        seen.add(row.event_id)
      }
    }
    // The per-topic counter rows must agree with the rows themselves.
    const counters = yield* query<{ topic: string; unique_count: string }>(
      databaseUrl,
      "select topic, unique_count::text as unique_count from topics"
    )
    for (const { topic, unique_count } of counters) {
      const stored = byTopic.get(topic)?.length ?? 0
      if (Number(unique_count) !== stored)
        return yield* violated(`topic ${topic}: counter says ${unique_count} unique, ${stored} rows stored`)
    }
    return rows.length
  })

/**
 * GET /stats after a drain: nothing pending, `received == unique_processed + duplicate_dropped`, exactly the
 * expected unique count, every expected topic listed, and `received` between what was accepted and what may have
 * been appended by ambiguous retries.
 */
export const verifyStats = (
  stats: Stats,
  expected: {
    readonly unique: number
    readonly topics: Iterable<string>
    readonly minReceived: number
    readonly maxReceived: number
  }
) =>
  Effect.gen(function* () {
    const show = JSON.stringify({ ...stats, topics: `${stats.topics.length} topics` })
    if (stats.pending !== 0) return yield* violated(`pending ${stats.pending} after drain: ${show}`)
    if (stats.received !== stats.unique_processed + stats.duplicate_dropped)
      return yield* violated(`received != unique_processed + duplicate_dropped: ${show}`)
    if (stats.unique_processed !== expected.unique)
      return yield* violated(`unique_processed ${stats.unique_processed}, expected ${expected.unique}: ${show}`)
    if (stats.received < expected.minReceived || stats.received > expected.maxReceived)
      return yield* violated(
        `received ${stats.received} outside [${expected.minReceived}, ${expected.maxReceived}]: ${show}`
      )
    const listed = new Set(stats.topics)
    const missing = [...expected.topics].filter((t) => !listed.has(t))
    if (missing.length > 0) return yield* violated(`topics missing from /stats: ${missing.join(", ")}`)
  })

/**
 * After the whole workload was published: wait for the drain, then check /stats (`verifyStats`: nothing pending,
 * exactly the workload's unique events and topics, `received` from the events sent up to what ambiguous retries may
 * have appended) and the store (`verifyStore`: exactly the expected rows). Returns the drained stats.
 */
export const verifyDrained = (stack: Stack, workload: Workload, published: PublishSummary) =>
  Effect.gen(function* () {
    const stats = yield* waitDrained(stack.apiUrl, { minReceived: workload.events.length, context: stack.describe })
    yield* verifyStats(stats, {
      unique: workload.unique,
      topics: workload.expected.keys(),
      minReceived: workload.events.length,
      maxReceived: workload.events.length + published.ambiguousEvents
    })
    const stored = yield* verifyStore(stack.databaseUrl, workload.expected)
    if (stored !== workload.unique) return yield* violated(`${stored} rows stored, ${workload.unique} expected`)
    return stats
  })

/** A short-lived Redis connection for one check. */
export const withRedis = <A>(url: string, f: (client: ReturnType<typeof redisClient>) => Promise<A>) =>
  Effect.tryPromise({
    try: async () => {
      const client = await redisClient(url).connect()
      try {
        return await f(client)
      } finally {
        client.destroy()
      }
    },
    catch: (cause) => new InvariantViolated({ message: `redis check failed: ${String(cause)}` })
  })

const redisClient = (url: string) => createClient({ url, RESP: 2 }).on("error", () => undefined)

/** The streams of every partition of the log of STREAM_KEY `streamKey`, as the deployment recorded its count. */
export const partitionStreams = async (client: ReturnType<typeof redisClient>, streamKey: string) => {
  const keys = StreamKeys.make(streamKey)
  const count = Number((await client.get(keys.partitionCount)) ?? 1)
  return Array.from({ length: count }, (_, i) => keys.partition(i).stream)
}

/** Entries pending per consumer, over every group and partition of the log (empty when none are pending). */
export const pendingByConsumer = (redisUrl: string, streamKey: string) =>
  withRedis(redisUrl, async (client) => {
    const pending = new Map<string, number>()
    for (const stream of await partitionStreams(client, streamKey))
      for (const group of await client.xInfoGroups(stream))
        for (const consumer of await client.xInfoConsumers(stream, group.name))
          if (consumer.pending > 0) pending.set(consumer.name, (pending.get(consumer.name) ?? 0) + consumer.pending)
    return pending
  })

/** Milliseconds since each consumer of the log's groups last read (XINFO CONSUMERS `idle`, least over partitions). */
export const consumerIdle = (redisUrl: string, streamKey: string) =>
  withRedis(redisUrl, async (client) => {
    const idle = new Map<string, number>()
    for (const stream of await partitionStreams(client, streamKey))
      for (const group of await client.xInfoGroups(stream))
        for (const consumer of await client.xInfoConsumers(stream, group.name))
          idle.set(consumer.name, Math.min(idle.get(consumer.name) ?? Number.POSITIVE_INFINITY, consumer.idle))
    return idle
  })

/** Entries in the streams of every partition of the log. */
export const streamLength = (redisUrl: string, streamKey: string) =>
  withRedis(redisUrl, async (client) => {
    let length = 0
    for (const stream of await partitionStreams(client, streamKey)) length += await client.xLen(stream)
    return length
  })

/**
 * Holds every topic row locked (as a stalled database would) until the scope closes: each worker that reads a
 * batch then waits inside its commit, its entries delivered but not acknowledged.
 */
export const lockTopics = (url: string): Effect.Effect<number, InvariantViolated, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        await client.query("begin")
        const { rowCount } = await client.query("select topic from topics order by topic for update")
        return { client, locked: rowCount ?? 0 }
      },
      catch: (cause) => new InvariantViolated({ message: `could not lock the topic rows: ${String(cause)}` })
    }),
    ({ client }) => Effect.promise(() => client.query("rollback").finally(() => client.end()))
  ).pipe(Effect.map(({ locked }) => locked))

/**
 * With the topic rows locked (until the caller's scope closes, so the worker cannot finish the batch it holds
 * between the check and the kill), wait until a running worker holds unacknowledged entries (the first in start
 * order that does: with partitions, a worker whose share holds no busy topic may hold nothing), then SIGKILL it.
 * Returns its consumer name, when it was killed and how many entries it left pending.
 */
export const killWorkerHoldingBatch = (stack: Stack) =>
  Effect.gen(function* () {
    const workers = stack.workers().filter((w) => w.status()._tag === "None")
    if (workers.length === 0) return assert.fail("no worker running")
    assert.isAbove(yield* lockTopics(stack.databaseUrl), 0, "topic rows exist once events are stored")
    const nameOf = (w: (typeof workers)[number]) => w.name.replace(/^worker /, "")
    const pending = yield* waitFor(
      "a worker to hold unacknowledged entries",
      pendingByConsumer(stack.redisUrl, stack.streamKey),
      (p) => workers.some((w) => (p.get(nameOf(w)) ?? 0) > 0),
      { timeoutMs: 30_000, intervalMs: 5 }
    )
    const victim = workers.find((w) => (pending.get(nameOf(w)) ?? 0) > 0)!
    const name = nameOf(victim)
    yield* victim.kill("SIGKILL")
    assert.strictEqual((yield* victim.exit).signal, "SIGKILL")
    const killedAt = yield* Clock.currentTimeMillis
    const orphaned = (yield* pendingByConsumer(stack.redisUrl, stack.streamKey)).get(name) ?? 0
    return { name, killedAt, orphaned }
  })

/** Wait until the workers have stored at least `unique` events (so batches are flowing). */
export const progressed = (stack: Stack, unique: number) =>
  waitFor(`at least ${unique} events stored`, getStats(stack.apiUrl), (s) => s.unique_processed >= unique, {
    timeoutMs: 60_000,
    intervalMs: 20,
    context: stack.describe
  })
