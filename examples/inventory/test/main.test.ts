// The inventory service as real processes on real PostgreSQL and Redis, consuming @agg's stream with its own
// consumer group: stock events are published with exact duplicates and conflicting resends; the first replica is
// killed with SIGKILL while its commit waits (a held topic lock) with entries in hand; a replacement takes them over
// and is then stopped with SIGTERM (exit 0). Every SKU's stock must equal the exact sum of the deltas of its unique
// events (the first version of each key), each recorded once.
import { readFileSync } from "node:fs"
import { mulberry32, shuffle } from "@agg/publisher"
import { RedisEventLog } from "@agg/storage"
import { entries, type Proc, spawnNode, tail } from "@agg/testing/Processes"
import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  queryRows,
  TestDatabase,
  TestRedis,
  withServices
} from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import pg from "pg"

const services = [await checkPostgres(), await checkRedis()]

interface StockEvent {
  readonly topic: string
  readonly event_id: string
  readonly timestamp: string
  readonly source: string
  readonly payload: { readonly sku: string; readonly delta: number }
}

/**
 * `unique` stock events over `skus` SKUs, shuffled with `duplicates` exact repeats (anywhere: same content) and
 * `conflicts` resends of a key with another delta, each placed after its original (so the original is the stored
 * version), plus the expected stock: the sum of the originals' deltas per SKU.
 */
const makeWorkload = (options: {
  unique: number
  duplicates: number
  conflicts: number
  skus: number
  seed: number
}) => {
  // Seeded, so a failure can be replayed.
  const rand = mulberry32(options.seed)
  const pick = (n: number) => Math.floor(rand() * n)
  const originals: Array<StockEvent> = Array.from({ length: options.unique }, (_, i) => ({
    topic: "stock",
    event_id: `move-${i}`,
    timestamp: new Date(Date.UTC(2026, 11, 1, 9, 0, 0, i)).toISOString(),
    source: "warehouse",
    payload: { sku: `sku-${pick(options.skus)}`, delta: pick(21) - 8 }
  }))
  const events: Array<StockEvent> = [...originals]
  for (let d = 0; d < options.duplicates; d++) events.push(originals[pick(originals.length)]!)
  shuffle(events, rand)
  for (let c = 0; c < options.conflicts; c++) {
    const original = originals[pick(originals.length)]!
    const at = events.indexOf(original) + 1 + pick(events.length - events.indexOf(original))
    events.splice(at, 0, { ...original, payload: { ...original.payload, delta: original.payload.delta + 1000 } })
  }
  const expected = new Map<string, number>()
  for (const e of originals) expected.set(e.payload.sku, (expected.get(e.payload.sku) ?? 0) + e.payload.delta)
  return { events, expected }
}

it("the README shows the whole service: its code block is src/main.ts without the header comment", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
  const main = readFileSync(new URL("../src/main.ts", import.meta.url), "utf8")
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.strictEqual(block, main.slice(main.indexOf("import ")))
})

describeWithServices("inventory service", services, () => {
  it.live("exact stock per SKU through duplicates, conflicting resends, a kill -9 and a SIGTERM", () =>
    withServices(
      Effect.gen(function* () {
        const database = yield* TestDatabase
        const redis = yield* TestRedis
        const streamKey = `${redis.prefix}:events`
        const { events, expected } = makeWorkload({ unique: 600, duplicates: 200, conflicts: 80, skus: 15, seed: 7 })
        // The aggregator's side of the stream: its log (and its workers' group) as the api in queued mode writes it.
        const aggregator = yield* RedisEventLog.makeScoped({ url: redis.url, streamKey })
        const inbox = yield* RedisEventLog.makeScoped({ url: redis.url, streamKey, group: "inventory" })

        const env = (consumer: string) => ({
          DATABASE_URL: database.url,
          REDIS_URL: redis.url,
          STREAM_KEY: streamKey,
          INVENTORY_CONSUMER: consumer
        })
        const outputs = (procs: ReadonlyArray<Proc>) => procs.map((p) => tail(p)).join("\n")
        const applied = Effect.promise(() =>
          queryRows<{ n: number }>(database.url, "SELECT count(*)::int AS n FROM agg.events").then((r) => r[0]!.n)
        ).pipe(Effect.catchDefect(() => Effect.succeed(0))) // the tables appear once a replica has migrated
        const pending = Effect.map(inbox.log.stats, (s) => s.pending)
        const waitFor = <E>(what: string, condition: Effect.Effect<boolean, E>, procs: ReadonlyArray<Proc>) =>
          Effect.gen(function* () {
            const deadline = (yield* Clock.currentTimeMillis) + 60_000
            while (!(yield* condition)) {
              assert.isBelow(yield* Clock.currentTimeMillis, deadline, `${what}\n${outputs(procs)}`)
              yield* Effect.sleep("50 millis")
            }
          })
        const half = Math.floor(events.length / 2)

        // First half: one replica consumes it.
        const victim = yield* spawnNode("inventory-a", entries.inventory, { env: env("inventory-a") })
        yield* aggregator.log.append(events.slice(0, half))
        yield* waitFor(
          "the first replica never consumed",
          Effect.map(applied, (n) => n >= 100),
          [victim]
        )

        // Hold the stock topic's lock, so the replica's next commit waits inside its transaction with the entries in
        // hand; publish the rest, and kill it -9 right there.
        const blocker = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: database.url })
            await client.connect()
            await client.query("BEGIN")
            await client.query("SELECT 1 FROM agg.topics WHERE topic = 'stock' FOR UPDATE")
            return client
          }),
          (client) => Effect.promise(() => client.end())
        )
        yield* aggregator.log.append(events.slice(half))
        yield* waitFor(
          "the first replica never took the second half",
          Effect.map(pending, (n) => n > 0),
          [victim]
        )
        yield* victim.kill("SIGKILL")
        assert.strictEqual((yield* victim.exit).signal, "SIGKILL", outputs([victim]))
        const heldByVictim = yield* pending
        assert.isAbove(heldByVictim, 0, "the kill left entries pending")
        yield* Effect.promise(() => blocker.query("ROLLBACK"))

        // A replacement takes over the victim's entries (once its liveness mark expired) and everything else.
        const survivor = yield* spawnNode("inventory-b", entries.inventory, { env: env("inventory-b") })
        yield* waitFor(
          "the inventory group never drained",
          Effect.map(inbox.log.stats, (s) => s.lag === 0 && s.pending === 0),
          [victim, survivor]
        )
        yield* survivor.kill("SIGTERM")
        const stopped = yield* survivor.exit
        assert.strictEqual(stopped.code, 0, outputs([survivor]))
        // Its last log line counts what it took over: exactly what the victim held.
        const stoppedLine = survivor
          .output()
          .split("\n")
          .find((line) => line.includes('"inbox stopped"'))
        assert.isDefined(stoppedLine, outputs([survivor]))
        const figures = (JSON.parse(stoppedLine!) as { message: [string, { figures: { reclaimed: number } }] })
          .message[1].figures
        assert.strictEqual(figures.reclaimed, heldByVictim)

        const stock = yield* Effect.promise(() =>
          queryRows<{ sku: string; quantity: number }>(
            database.url,
            "SELECT sku, quantity FROM public.stock ORDER BY sku"
          )
        )
        assert.deepStrictEqual(
          Object.fromEntries(stock.map((r) => [r.sku, r.quantity])),
          Object.fromEntries([...expected].sort(([a], [b]) => (a < b ? -1 : 1))),
          outputs([victim, survivor])
        )
        assert.strictEqual(yield* applied, 600, "each unique event recorded once")
        const stats = yield* inbox.log.stats
        assert.deepStrictEqual([stats.received, stats.deadLettered], [events.length, 0])
        // Our tables in the inbox's schema, the service's in public.
        const tables = yield* Effect.promise(() =>
          queryRows<{ schema: string; name: string }>(
            database.url,
            `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
             WHERE table_name IN ('stock', 'events', 'deliveries') ORDER BY 2`
          )
        )
        assert.deepStrictEqual(
          tables.map((t) => `${t.schema}.${t.name}`),
          ["agg.deliveries", "agg.events", "public.stock"]
        )
        // The aggregator's own workers' group was left alone: every entry still waits for it.
        assert.strictEqual((yield* aggregator.log.stats).lag, events.length)
      })
    )
  )
})
