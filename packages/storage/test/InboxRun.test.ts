import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  TestDatabase,
  TestRedis,
  withServices
} from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { sql } from "kysely"
import * as Inbox from "../src/postgres/Inbox.ts"
import * as RedisEventLog from "../src/redis/RedisEventLog.ts"
import * as StreamKeys from "../src/redis/StreamKeys.ts"
import { createStock, type ServiceDb, stockEvent } from "./utils/Stock.ts"

const services = [await checkPostgres(), await checkRedis()]

let streams = 0
const freshStreamKey = (prefix: string) => `${prefix}:s${streams++}`

it("a group other than the workers' has its own dead letters and consumer marks; the workers' keys are unchanged", () => {
  const workers = StreamKeys.make("agg:events")
  const inbox = StreamKeys.make("agg:events", "inventory")
  assert.strictEqual(inbox.partition(0).stream, workers.partition(0).stream)
  assert.strictEqual(inbox.partition(0).received, workers.partition(0).received)
  assert.strictEqual(inbox.partition(0).deadLetter, "{agg:events:p0}:g9:inventory:dlq")
  assert.strictEqual(inbox.partition(0).deadLettered, "{agg:events:p0}:g9:inventory:dlq:count")
  assert.strictEqual(inbox.consumer("c1"), "{agg:events}:g9:inventory:consumer:c1")
  assert.strictEqual(workers.consumer("c1"), "{agg:events}:consumer:c1")
  // Naming the workers' group explicitly is the same as leaving it out.
  assert.deepStrictEqual(StreamKeys.make("agg:events", "agg:events:workers").partition(0), workers.partition(0))
  // Group names that share a prefix never share a key.
  const a = StreamKeys.make("s", "a").consumer("b:consumer:c")
  const b = StreamKeys.make("s", "a:consumer:b").consumer("c")
  assert.notStrictEqual(a, b)
})

describeWithServices("Inbox.run", services, () => {
  it.live("consumes with its own group beside the workers', applies each event once, stops with nothing pending", () =>
    withServices(
      Effect.gen(function* () {
        const { url: databaseUrl } = yield* TestDatabase
        const { url: redisUrl, prefix } = yield* TestRedis
        const streamKey = freshStreamKey(prefix)
        // The aggregator's side: its log (the workers' group), to publish and to compare counters.
        const workers = yield* RedisEventLog.makeScoped({ url: redisUrl, streamKey })
        const sent = [
          stockEvent("e1", "apple", 5),
          stockEvent("e2", "pear", 2),
          stockEvent("e1", "apple", 5), // resent
          stockEvent("e3", "apple", -1),
          stockEvent("e2", "pear", 200), // resent with other content: the first version stays
          stockEvent("p1", "apple", 1000, { poison: true }),
          stockEvent("e4", "fig", 4)
        ]
        yield* workers.log.append(sent)
        const applied = yield* Deferred.make<void>()
        let seen = 0
        const running = yield* Effect.forkChild(
          Inbox.run<ServiceDb>({
            databaseUrl,
            redisUrl,
            streamKey,
            group: "inventory",
            consumer: "inventory-1",
            consumerOptions: { block: "200 millis", retryBase: "1 millis", retryCap: "10 millis" },
            setup: createStock,
            handler: async (events, trx) => {
              for (const { event } of events) {
                if (event.payload["poison"] === true)
                  throw new Inbox.InboxHandlerError({ retryable: false, message: "refused" })
                await trx
                  .insertInto("stock")
                  .values({ sku: String(event.payload["sku"]), quantity: Number(event.payload["delta"]) })
                  .onConflict((oc) =>
                    oc.column("sku").doUpdateSet({ quantity: sql`stock.quantity + excluded.quantity` })
                  )
                  .execute()
              }
              // Counted only once the transaction is sure to commit its part; 4 unique events to apply.
              seen += events.length
              if (seen >= 4) Deferred.doneUnsafe(applied, Effect.void)
            }
          })
        )
        yield* Deferred.await(applied)
        // The inbox has read the whole stream once the poison entry is dead-lettered too.
        const inboxLog = yield* RedisEventLog.makeScoped({ url: redisUrl, streamKey, group: "inventory" })
        const settled = Effect.map(inboxLog.log.stats, (s) => s.deadLettered === 1 && s.pending === 0)
        while (!(yield* settled)) yield* Effect.sleep("20 millis")
        yield* Fiber.interrupt(running)
        const exit = yield* Fiber.await(running)
        assert.isTrue(Exit.hasInterrupts(exit))

        const db = Inbox.connect<ServiceDb>({ url: databaseUrl })
        const rows = yield* Effect.promise(() => db.selectFrom("stock").selectAll().orderBy("sku").execute()).pipe(
          Effect.ensuring(Effect.promise(() => db.destroy()))
        )
        assert.deepStrictEqual(
          rows.map((r) => [r.sku, r.quantity]),
          [
            ["apple", 4],
            ["fig", 4],
            ["pear", 2]
          ]
        )
        const inboxStats = yield* inboxLog.log.stats
        assert.deepStrictEqual([inboxStats.pending, inboxStats.lag, inboxStats.deadLettered], [0, 0, 1])
        // The workers' group is untouched: every entry still waits for it, and no dead letter is counted there.
        const workerStats = yield* workers.log.stats
        assert.deepStrictEqual(
          [workerStats.received, workerStats.lag, workerStats.pending, workerStats.deadLettered],
          [sent.length, sent.length, 0, 0]
        )
      })
    )
  )

  it.live("refuses the workers' group", () =>
    withServices(
      Effect.gen(function* () {
        const { url: databaseUrl } = yield* TestDatabase
        const { url: redisUrl, prefix } = yield* TestRedis
        const streamKey = freshStreamKey(prefix)
        const error = yield* Effect.flip(
          Inbox.run({
            databaseUrl,
            redisUrl,
            streamKey,
            group: `${streamKey}:workers`,
            consumer: "c",
            handler: async () => undefined
          })
        )
        assert.strictEqual(error._tag, "InboxConfigError")
      })
    )
  )
})
