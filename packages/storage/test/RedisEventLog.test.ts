// RedisEventLog on a real Redis (keys under this file's own prefix): the EventLog contract suite, plus what only
// Redis shows: entry decoding with a schema version, the dead-letter stream's content, trimming of acknowledged
// entries only, idempotent group creation, a killed connection, entries' streams and acks by stream, the scripts
// after SCRIPT FLUSH, deployments that overlapped in the old key layout, the refusal to start beside that layout,
// and layerConfig.
import { EventLog, Partitioning } from "@agg/core"
import type { Event } from "@agg/schema"
import { eventLogSuite } from "@agg/testing/EventLogSuite"
import { checkRedis, describeWithServices, useRedisPrefix } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Duration, Effect, Exit, Fiber, Layer, Schedule } from "effect"
import { createClient, type MultiErrorReply } from "redis"
import * as RedisEntry from "../src/redis/Entry.ts"
import * as RedisEventLog from "../src/redis/RedisEventLog.ts"
import * as StreamKeys from "../src/redis/StreamKeys.ts"

const redis = await checkRedis()

const event = (i: number): Event => ({
  topic: "redis.test",
  event_id: `e${i}`,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "test",
  payload: { i }
})
const short = { count: 100, block: Duration.millis(20) }

describeWithServices("RedisEventLog on Redis", [redis], () => {
  const keys = useRedisPrefix()
  let n = 0
  const freshKey = () => `${keys.prefix}:s${++n}`

  eventLogSuite(
    "Redis Streams, one partition",
    Layer.unwrap(Effect.sync(() => RedisEventLog.layer({ url: keys.url, streamKey: freshKey(), partitions: 1 })))
  )
  eventLogSuite(
    "Redis Streams",
    Layer.unwrap(Effect.sync(() => RedisEventLog.layer({ url: keys.url, streamKey: freshKey(), partitions: 4 }))),
    { partitions: 4 }
  )

  // A plain client for raw commands, closed with the scope.
  const rawClient = Effect.acquireRelease(
    Effect.promise(() => createClient({ url: keys.url, RESP: 2 }).connect()),
    (c) => Effect.sync(() => c.destroy())
  )

  // A fresh one-partition log (these tests look at the mechanics of one stream) plus a plain client for raw
  // commands, both closed with the scope.
  const setup = Effect.gen(function* () {
    const log = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey: freshKey(), partitions: 1 })
    const raw = yield* rawClient
    return { ...log, raw }
  })

  it.live("entries decode by schema version; anything else is Undecodable with a reason", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup
      yield* log.append([event(1)])
      const bad: Array<Record<string, string>> = [
        { v: "2", e: JSON.stringify(event(2)) },
        { e: JSON.stringify(event(3)) },
        { v: "1", e: "{not json" },
        { v: "1", e: JSON.stringify({ ...event(4), topic: "has space" }) },
        { v: "1" }
      ]
      for (const fields of bad) yield* Effect.promise(() => raw.xAdd(k.partition(0).stream, "*", fields))
      const got = yield* log.read("c1", short)
      assert.deepStrictEqual(
        got.map((e) => (e._tag === "Event" ? e.event : e.reason)),
        [
          event(1),
          'unknown schema version "2"',
          "entry has no schema version field 'v'",
          "event is not valid JSON: Expected property name or '}' in JSON at position 1 (line 1 column 2)",
          "invalid event: topic: topic must not contain whitespace or control characters",
          "entry has no event field 'e'"
        ]
      )
      assert.isTrue(got.every((e) => e.deliveries === 1))
    }).pipe(Effect.scoped)
  )

  it.live("concurrent appends (a group append) keep each caller's events whole, in order, and counted", () =>
    Effect.gen(function* () {
      const { log } = yield* setup
      // 60 callers in one turn: 1..3 events each, plus three of 900 that push the group over its size cap.
      const batches = Array.from({ length: 60 }, (_, c) =>
        Array.from({ length: c % 20 === 7 ? 900 : (c % 3) + 1 }, (_, i) => ({ ...event(i), event_id: `c${c}-${i}` }))
      )
      yield* Effect.forEach(batches, (batch) => log.append(batch), { concurrency: "unbounded", discard: true })
      const total = batches.reduce((n, b) => n + b.length, 0)
      assert.strictEqual((yield* log.stats).received, total)
      const got = yield* log.read("c1", { count: total + 10, block: Duration.millis(20) })
      const ids = got.map((e) => (e._tag === "Event" ? e.event.event_id : e.reason))
      assert.strictEqual(ids.length, total)
      // Each caller's events are contiguous and in its order.
      for (const batch of batches) {
        const start = ids.indexOf(batch[0]!.event_id)
        assert.deepStrictEqual(
          ids.slice(start, start + batch.length),
          batch.map((e) => e.event_id)
        )
      }
    }).pipe(Effect.scoped)
  )

  it.live("a failed group append fails every caller of the group with the same error", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup
      yield* Effect.promise(() =>
        raw.del(k.partition(0).stream).then(() => raw.set(k.partition(0).stream, "not a stream"))
      )
      const errors = yield* Effect.forEach([1, 2, 3, 4], (i) => Effect.flip(log.append([event(i)])), {
        concurrency: "unbounded"
      })
      assert.strictEqual(errors.length, 4)
      for (const error of errors) {
        assert.strictEqual(error.operation, "append")
        assert.isFalse(error.retryable, error.message)
        const replies = [...(error.cause as MultiErrorReply).errors()].map((e) => e.message)
        assert.isTrue(replies.length > 0 && replies.every((m) => m.startsWith("WRONGTYPE")), replies.join("; "))
      }
      assert.strictEqual(new Set(errors).size, 1, "one error, shared")
    }).pipe(Effect.scoped)
  )

  it.live("an append interrupted before it started writes nothing", () =>
    Effect.gen(function* () {
      const { log } = yield* setup
      const interrupted = yield* Effect.forkChild(log.append([event(1)]))
      yield* Fiber.interrupt(interrupted) // before the forked fiber ran: nothing was submitted
      yield* log.append([event(2)])
      assert.strictEqual((yield* log.stats).received, 1)
      const got = yield* log.read("c1", short)
      assert.deepStrictEqual(
        got.map((e) => (e._tag === "Event" ? e.event.event_id : e.reason)),
        ["e2"]
      )
    }).pipe(Effect.scoped)
  )

  it.live("dead-lettering stores id, reason, delivery count and raw fields, acks, and counts once", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup
      yield* log.append([event(1), event(2)])
      yield* log.read("c1", short)
      const [first] = yield* log.reclaim("c2", { minIdle: Duration.zero, count: 1 })
      assert.strictEqual(first?.deliveries, 2)
      yield* log.deadLetter(first!, "poison")
      yield* log.deadLetter(first!, "poison again") // a second consumer racing: no double count
      const dead = yield* Effect.promise(() => raw.xRange(k.partition(0).deadLetter, "-", "+"))
      assert.strictEqual(dead?.length, 1)
      assert.deepStrictEqual(dead?.[0]?.message, {
        id: first!.id,
        reason: "poison",
        deliveries: "2",
        "raw.v": "1",
        "raw.e": JSON.stringify(event(1))
      })
      assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 1, deadLettered: 1, discarded: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("reclaim pages through a busy pending list until the cursor is back at 0-0", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup
      yield* log.append(Array.from({ length: 300 }, (_, i) => event(i)))
      const read = yield* log.read("live", { count: 300, block: Duration.millis(20) })
      assert.strictEqual(read.length, 300)
      // The last three have been idle for 100 s; the 297 before them were just delivered to a live consumer.
      // One XAUTOCLAIM call with COUNT 1 scans 10 pending entries: the idle ones are 30 pages away.
      const idle = read.slice(-3).map((e) => e.id)
      yield* Effect.promise(() =>
        raw.sendCommand([
          "XCLAIM",
          k.partition(0).stream,
          k.group,
          "live",
          "0",
          ...idle,
          "IDLE",
          "100000",
          "RETRYCOUNT",
          "1"
        ])
      )
      const minIdle = Duration.seconds(60)
      const first = yield* log.reclaim("c2", { minIdle, count: 1 })
      assert.deepStrictEqual(
        first.map((e) => [e.id, e.deliveries]),
        [[idle[0], 2]]
      )
      const rest = yield* log.reclaim("c2", { minIdle, count: 10 })
      assert.deepStrictEqual(
        rest.map((e) => e.id),
        idle.slice(1),
        "fewer than count: the whole list was scanned"
      )
      assert.deepStrictEqual(yield* log.reclaim("c2", { minIdle, count: 10 }), [])
    }).pipe(Effect.scoped)
  )

  it.live("an entry deleted from the stream while pending is dead-lettered and counted once by reclaim", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup
      yield* log.append([event(1), event(2), event(3)])
      const read = yield* log.read("dead", short)
      yield* Effect.promise(() => raw.xDel(k.partition(0).stream, read[1]!.id)) // someone else's XDEL
      const got = yield* log.reclaim("c2", { minIdle: Duration.zero, count: 10 })
      assert.deepStrictEqual(
        got.map((e) => e.id),
        [read[0]!.id, read[2]!.id]
      )
      assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 0, pending: 2, deadLettered: 1, discarded: 0 })
      const dead = yield* Effect.promise(() => raw.xRange(k.partition(0).deadLetter, "-", "+"))
      assert.deepStrictEqual(
        dead?.map((d) => d.message),
        [{ id: read[1]!.id, reason: "deleted from the stream while pending" }]
      )
      yield* log.reclaim("c3", { minIdle: Duration.zero, count: 10 })
      assert.strictEqual((yield* log.stats).deadLettered, 1, "reported once")
    }).pipe(Effect.scoped)
  )

  it.live("lag never exceeds the stream's length, even when Redis's entries-read counter drifted", () =>
    Effect.gen(function* () {
      const { log, trimAcknowledged, keys: k, raw } = yield* setup
      yield* log.append([1, 2, 3].map(event))
      yield* log.ack(yield* log.read("c1", short))
      yield* trimAcknowledged
      // The group's counter as a drift leaves it: Redis now reports every entry ever added as lag.
      yield* Effect.promise(() =>
        raw.sendCommand(["XGROUP", "SETID", k.partition(0).stream, k.group, "$", "ENTRIESREAD", "0"])
      )
      const groups = yield* Effect.promise(() => raw.xInfoGroups(k.partition(0).stream))
      assert.strictEqual(groups[0]?.lag, 3, "Redis's own figure")
      assert.deepStrictEqual(yield* log.stats, { received: 3, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
      // Not trimmed (one entry still pending) but fully delivered: still no lag.
      yield* log.append([event(4)])
      yield* log.read("c1", short)
      yield* Effect.promise(() =>
        raw.sendCommand(["XGROUP", "SETID", k.partition(0).stream, k.group, "$", "ENTRIESREAD", "0"])
      )
      assert.deepStrictEqual(yield* log.stats, { received: 4, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("trimming deletes only entries every group has acknowledged", () =>
    Effect.gen(function* () {
      const { log, trimAcknowledged, keys: k, raw } = yield* setup
      yield* log.append([1, 2, 3, 4, 5].map(event))
      const read = yield* log.read("c1", { count: 4, block: Duration.millis(20) })
      yield* log.ack([read[0]!, read[1]!, read[3]!]) // entry 3 stays pending, 5 undelivered
      assert.strictEqual(yield* trimAcknowledged, 2)
      assert.deepStrictEqual(
        (yield* Effect.promise(() => raw.xRange(k.partition(0).stream, "-", "+")))?.map((e) => e.id),
        [
          read[2]!.id,
          read[3]!.id,
          (yield* Effect.promise(() => raw.xRevRange(k.partition(0).stream, "+", "-", { COUNT: 1 })))?.[0]?.id
        ]
      )
      // Another group that has read nothing holds everything back.
      yield* Effect.promise(() => raw.xGroupCreate(k.partition(0).stream, "audit", "0"))
      yield* log.ack([read[2]!])
      assert.strictEqual(yield* trimAcknowledged, 0)
      yield* Effect.promise(() => raw.xGroupDestroy(k.partition(0).stream, "audit"))
      // Now entries 3 and 4 are acknowledged; 5 was never delivered and stays.
      assert.strictEqual(yield* trimAcknowledged, 2)
      const rest = yield* log.read("c1", short)
      assert.deepStrictEqual(
        rest.map((e) => (e._tag === "Event" ? e.event.event_id : e.reason)),
        ["e5"]
      )
      assert.deepStrictEqual(yield* log.stats, { received: 5, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("creating the group again (a second process) keeps the pending entries", () =>
    Effect.gen(function* () {
      const streamKey = freshKey()
      const a = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey, partitions: 1 })
      yield* a.log.append([event(1)])
      yield* a.log.read("c1", short)
      const b = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey, partitions: 1 })
      assert.deepStrictEqual(yield* b.log.stats, { received: 1, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("closing the layer's scope closes both connections and ends a blocked read", () =>
    Effect.gen(function* () {
      const streamKey = freshKey()
      const raw = yield* rawClient
      const names = () =>
        Effect.promise(() => raw.clientList()).pipe(
          Effect.map((list) =>
            list
              .map((c) => c.name)
              .filter((name) => name.startsWith(`${streamKey}:`))
              .sort()
          )
        )
      const reading = yield* Effect.forkChild(
        Effect.gen(function* () {
          const log = yield* EventLog.EventLog
          return yield* log.read("c1", { count: 1, block: Duration.seconds(30) })
        }).pipe(Effect.provide(RedisEventLog.layer({ url: keys.url, streamKey, partitions: 1 })))
      )
      yield* names().pipe(
        Effect.flatMap((n) => (n.length === 2 ? Effect.succeed(n) : Effect.fail("not connected yet" as const))),
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 })
      )
      assert.deepStrictEqual(yield* names(), [`${streamKey}:log`, `${streamKey}:log:blocking`])
      yield* Fiber.interrupt(reading)
      yield* names().pipe(
        Effect.flatMap((n) => (n.length === 0 ? Effect.void : Effect.fail("still connected" as const))),
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 })
      )
      assert.deepStrictEqual(yield* names(), [])
    }).pipe(Effect.scoped)
  )

  it.live(
    "a killed connection: the operation in flight fails retryable, nothing half-done, the next one succeeds",
    () =>
      Effect.gen(function* () {
        const streamKey = freshKey()
        const k = StreamKeys.make(streamKey)
        const open = (name: string) =>
          Effect.acquireRelease(
            Effect.promise(() => RedisEventLog.createLogClient(keys.url, name).connect()),
            (c) => Effect.sync(() => c.destroy())
          )
        const client = yield* open(`${streamKey}:log`)
        const blocking = yield* open(`${streamKey}:log:blocking`)
        const raw = yield* open(`${streamKey}:admin`)
        const { log } = yield* RedisEventLog.make(client, blocking, k)
        type ClientInfo = Awaited<ReturnType<typeof raw.clientList>>[number]
        const waitFor = (name: string, cmd: string, also: (c: ClientInfo) => boolean = () => true) =>
          Effect.promise(() => raw.clientList()).pipe(
            Effect.flatMap((list) => {
              const found = list.find((c) => c.name === name && c.cmd === cmd && also(c))
              return found === undefined ? Effect.fail(`${name} not in ${cmd} yet` as const) : Effect.succeed(found.id)
            }),
            Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 })
          )
        const kill = (id: number) => Effect.promise(() => raw.sendCommand(["CLIENT", "KILL", "ID", String(id)]))

        // The blocking connection, killed while XREADGROUP waits on it.
        const reading = yield* Effect.forkChild(log.read("c1", { count: 10, block: Duration.seconds(10) }))
        yield* kill(yield* waitFor(`${streamKey}:log:blocking`, "xreadgroup"))
        const readError = yield* Effect.flip(Fiber.join(reading))
        assert.strictEqual(readError._tag, "EventLogError")
        assert.strictEqual(readError.operation, "read")
        assert.isTrue(readError.retryable, readError.message)

        // The command connection, killed with an append in flight: it is queued on the socket behind a BLPOP that
        // holds the connection, so the server never runs its MULTI. The append's group is sent by a flusher fiber:
        // wait until its bytes sit unprocessed in the server's query buffer of that connection.
        const holding = yield* Effect.forkChild(
          Effect.promise(() => client.blPop(`${streamKey}:never`, 10).catch((e: unknown) => e))
        )
        const mainId = yield* waitFor(`${streamKey}:log`, "blpop")
        const appending = yield* Effect.forkChild(log.append([event(1)]))
        yield* waitFor(`${streamKey}:log`, "blpop", (c) => Number(c.qbuf) > 0)
        yield* kill(mainId)
        const appendError = yield* Effect.flip(Fiber.join(appending))
        yield* Fiber.join(holding)
        assert.strictEqual(appendError.operation, "append")
        assert.isTrue(appendError.retryable, appendError.message)

        // node-redis reconnects both connections; the next operations succeed and nothing was half-appended.
        yield* log.append([event(2)])
        assert.deepStrictEqual(yield* log.stats, { received: 1, lag: 1, pending: 0, deadLettered: 0, discarded: 0 })
        const got = yield* log.read("c1", short)
        assert.deepStrictEqual(
          got.map((e) => (e._tag === "Event" ? e.event.event_id : e.reason)),
          ["e2"]
        )
      }).pipe(Effect.scoped)
  )

  it.live("stats stay bounded when Redis cannot compute the lag (an entry deleted after the group's cursor)", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup
      const stream = k.partition(0).stream
      yield* log.append(Array.from({ length: 3000 }, (_, i) => event(i)))
      yield* log.read("c1", { count: 10, block: Duration.millis(20) })
      const head = yield* Effect.promise(() => raw.xRange(stream, "-", "+", { COUNT: 1501 }))
      yield* Effect.promise(() => raw.xDel(stream, head![1500]!.id))
      // Every command sent for this stream, as the server ran them; the marker ends what this test looks at.
      const marker = `${stream}:marker`
      const seen: Array<string> = []
      const sawMarker = yield* Deferred.make<void>()
      yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const m = createClient({ url: keys.url, RESP: 2 })
          await m.connect()
          await m.monitor((line) => {
            if (line.includes(marker)) Deferred.doneUnsafe(sawMarker, Exit.void)
            else if (line.includes(stream)) seen.push(line)
          })
          return m
        }),
        (m) => Effect.sync(() => m.destroy())
      )
      const stats = yield* log.stats
      yield* Effect.promise(() => raw.get(marker))
      yield* Deferred.await(sawMarker)
      assert.deepStrictEqual(stats, { received: 3000, lag: 2989, pending: 10, deadLettered: 0, discarded: 0 })
      const ranges = seen.filter((line) => /"xrange"/i.test(line))
      assert.isAbove(ranges.length, 0, "the lag was counted from ranges")
      for (const line of ranges) assert.match(line, /"COUNT" "\d+"/i, `an XRANGE without COUNT: ${line}`)
    }).pipe(Effect.scoped)
  )

  it.live("entries carry their partition's stream; ack takes each ref on its own stream, others are ignored", () =>
    Effect.gen(function* () {
      const { log, keys: k } = yield* setup
      yield* log.append([event(1), event(2)])
      const got = yield* log.read("c1", short)
      assert.deepStrictEqual(
        got.map((e) => e.stream),
        [k.partition(0).stream, k.partition(0).stream]
      )
      // The same ids on another stream (another partition, another deployment) are not this log's entries.
      const foreign = got.map((e) => ({ stream: k.partition(1).stream, id: e.id }))
      yield* log.ack([...foreign, { stream: "elsewhere", id: got[0]!.id }])
      assert.strictEqual((yield* log.stats).pending, 2)
      yield* log.ack([got[0]!])
      assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 1, deadLettered: 0, discarded: 0 })
      const error = yield* Effect.flip(log.deadLetter({ ...got[1]!, stream: k.partition(1).stream }, "x"))
      assert.strictEqual(error.operation, "deadLetter")
      assert.isFalse(error.retryable)
    }).pipe(Effect.scoped)
  )

  it.live(
    "deliveryFloor: nothing before any delivery, then the oldest pending id, then the id after the last one delivered",
    () =>
      Effect.gen(function* () {
        const { log, keys: k } = yield* setup
        const stream = k.partition(0).stream
        yield* log.append([event(1), event(2), event(3)])
        assert.deepStrictEqual(yield* log.deliveryFloor, [])
        const got = yield* log.read("c1", { count: 2, block: Duration.millis(20) })
        yield* log.ack([got[0]!])
        assert.deepStrictEqual(yield* log.deliveryFloor, [{ stream, id: got[1]!.id }])
        yield* log.ack([got[1]!])
        const [ms, seq] = got[1]!.id.split("-")
        assert.deepStrictEqual(yield* log.deliveryFloor, [{ stream, id: `${ms}-${Number(seq) + 1}` }])
      }).pipe(Effect.scoped)
  )

  it.live("the scripts run by EVALSHA and are sent again when the server lost them (SCRIPT FLUSH)", () =>
    Effect.gen(function* () {
      const { log, keys: k, raw } = yield* setup
      yield* log.append([event(1), event(2)])
      yield* log.read("c1", short)
      yield* Effect.promise(() => raw.scriptFlush())
      const claimed = yield* log.reclaim("c2", { minIdle: Duration.zero, count: 10 })
      assert.strictEqual(claimed.length, 2)
      yield* Effect.promise(() => raw.scriptFlush())
      yield* log.deadLetter(claimed[0]!, "poison")
      const dead = yield* Effect.promise(() => raw.xRange(k.partition(0).deadLetter, "-", "+"))
      assert.deepStrictEqual(
        dead?.map((d) => [d.message.id, d.message.reason]),
        [[claimed[0]!.id, "poison"]]
      )
      assert.deepStrictEqual(yield* log.stats, { received: 2, lag: 0, pending: 1, deadLettered: 1, discarded: 0 })
    }).pipe(Effect.scoped)
  )

  it.live(
    "deployments whose STREAM_KEYs overlapped in the old layout (a, a:received) share no key, in either order",
    () =>
      Effect.gen(function* () {
        for (const [first, second] of [
          ["a", "a:received"],
          ["a:received", "a"]
        ] as const) {
          const base = freshKey()
          const one = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey: `${base}:${first}` })
          yield* one.log.append([event(1)])
          const two = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey: `${base}:${second}` })
          yield* two.log.append([event(2), event(3)])
          yield* one.log.append([event(4)])
          assert.deepStrictEqual(yield* one.log.stats, {
            received: 2,
            lag: 2,
            pending: 0,
            deadLettered: 0,
            discarded: 0
          })
          assert.deepStrictEqual(yield* two.log.stats, {
            received: 2,
            lag: 2,
            pending: 0,
            deadLettered: 0,
            discarded: 0
          })
          const ids = (log: EventLog.EventLog["Service"]) =>
            log
              .read("c1", short)
              .pipe(Effect.map((got) => got.map((e) => (e._tag === "Event" ? e.event.event_id : e.reason))))
          assert.deepStrictEqual(yield* ids(one.log), ["e1", "e4"])
          assert.deepStrictEqual(yield* ids(two.log), ["e2", "e3"])
        }
      }).pipe(Effect.scoped)
  )

  it.live("refuses to start beside a stream of the old key layout, naming STREAM_KEY and what to do", () =>
    Effect.gen(function* () {
      const raw = yield* rawClient
      // An old deployment: its stream at STREAM_KEY itself, its counter at STREAM_KEY:received.
      const streamKey = freshKey()
      yield* Effect.promise(() => raw.xAdd(streamKey, "*", RedisEntry.encode(event(1))))
      yield* Effect.promise(() => raw.set(`${streamKey}:received`, "1"))
      const error = yield* Effect.flip(RedisEventLog.makeScoped({ url: keys.url, streamKey }))
      assert.strictEqual(error.operation, "start")
      assert.isFalse(error.retryable)
      assert.include(error.message, `STREAM_KEY ${JSON.stringify(streamKey)}`)
      assert.include(error.message, "Drain that deployment with the previous version and delete its keys")
      assert.include(error.message, `${streamKey}:received`)
      assert.include(error.message, "or choose another STREAM_KEY")
      // Nothing was created beside it.
      assert.strictEqual(yield* Effect.promise(() => raw.exists(StreamKeys.make(streamKey).partition(0).stream)), 0)
      // Only a stream counts: the old counter at a:received is no stream, so STREAM_KEY a:received starts.
      const neighbour = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey: `${streamKey}:received` })
      yield* neighbour.log.append([event(2)])
      assert.strictEqual((yield* neighbour.log.stats).received, 1)
      // Once the old keys are deleted, the key is usable.
      yield* Effect.promise(() => raw.del([streamKey, `${streamKey}:received`]))
      const fresh = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey })
      assert.deepStrictEqual(yield* fresh.log.stats, { received: 0, lag: 0, pending: 0, deadLettered: 0, discarded: 0 })
    }).pipe(Effect.scoped)
  )

  it.live("a burst into one partition during a blocking read comes back whole, up to count", () =>
    Effect.gen(function* () {
      const streamKey = freshKey()
      const { log } = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey, partitions: 4 })
      const raw = yield* rawClient
      const reading = yield* Effect.forkChild(log.read("c1", { count: 500, block: Duration.seconds(10) }))
      // Wait until the read sits in its blocking XREADGROUP (each stream asked for 500 / 4 entries).
      yield* Effect.promise(async () => {
        const list = await raw.clientList()
        return list.some((c) => c.name === `${streamKey}:log:blocking` && c.flags.includes("b"))
      }).pipe(
        Effect.filterOrFail((blocked) => blocked),
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 500 })
      )
      yield* log.append(Array.from({ length: 300 }, (_, i) => ({ ...event(i), topic: "burst" })))
      const got = yield* Fiber.join(reading)
      assert.strictEqual(got.length, 300, "topped up past the blocking read's share of 125")
      assert.deepStrictEqual(
        got.map((e) => (e._tag === "Event" ? e.event.event_id : "")),
        Array.from({ length: 300 }, (_, i) => event(i).event_id),
        "in append order"
      )
    }).pipe(Effect.scoped)
  )

  it.live("the first process records the partition count; others adopt it, and another PARTITIONS is refused", () =>
    Effect.gen(function* () {
      const streamKey = freshKey()
      const k = StreamKeys.make(streamKey)
      const raw = yield* rawClient
      const first = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey, partitions: 3 })
      assert.strictEqual(first.partitions, 3)
      assert.strictEqual(yield* Effect.promise(() => raw.get(k.partitionCount)), "3")
      const adopted = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey })
      assert.strictEqual(adopted.partitions, 3, "unset adopts the recorded count")
      const error = yield* Effect.flip(RedisEventLog.makeScoped({ url: keys.url, streamKey, partitions: 4 }))
      assert.isFalse(error.retryable)
      assert.include(error.message, "PARTITIONS=4")
      assert.include(error.message, "created with 3 partitions")
      assert.strictEqual(yield* Effect.promise(() => raw.get(k.partitionCount)), "3", "the record is untouched")
      // Events of all topics still land where the recorded count puts them.
      const topics = Array.from({ length: 12 }, (_, i) => `count.t${i}`)
      yield* adopted.log.append(topics.map((topic) => ({ ...event(1), topic })))
      for (const topic of topics) {
        const stream = k.partition(Partitioning.partitionOf(topic, 3)).stream
        const entries = yield* Effect.promise(() => raw.xRange(stream, "-", "+"))
        assert.isTrue(
          (entries ?? []).some((e) => JSON.parse(e.message.e ?? "{}").topic === topic),
          `${topic} in ${stream}`
        )
      }
      assert.strictEqual((yield* adopted.log.stats).received, 12)
    }).pipe(Effect.scoped)
  )

  it.live("a deployment made before partition counts were recorded has one partition", () =>
    Effect.gen(function* () {
      const streamKey = freshKey()
      const k = StreamKeys.make(streamKey)
      const raw = yield* rawClient
      // What an earlier version left: the first partition's stream and no recorded count.
      yield* Effect.promise(() => raw.xAdd(k.partition(0).stream, "*", RedisEntry.encode(event(1))))
      const refused = yield* Effect.flip(RedisEventLog.makeScoped({ url: keys.url, streamKey, partitions: 8 }))
      assert.include(refused.message, "created with 1 partition ")
      const log = yield* RedisEventLog.makeScoped({ url: keys.url, streamKey })
      assert.strictEqual(log.partitions, 1)
      const got = yield* log.log.read("c1", short)
      assert.deepStrictEqual(
        got.map((e) => e.stream),
        [k.partition(0).stream]
      )
    }).pipe(Effect.scoped)
  )

  it.live("layerConfig reads REDIS_URL, STREAM_KEY and PARTITIONS; a bad value fails naming it", () =>
    Effect.gen(function* () {
      const streamKey = freshKey()
      const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(env))
      const got = yield* Effect.gen(function* () {
        const log = yield* EventLog.EventLog
        yield* log.append([event(1)])
        return yield* log.read("c1", short)
      }).pipe(
        Effect.provide(
          RedisEventLog.layerConfig().pipe(
            Layer.provide(withEnv({ REDIS_URL: keys.url, STREAM_KEY: streamKey, PARTITIONS: "4" }))
          )
        )
      )
      assert.deepStrictEqual(
        got.map((e) => e.stream),
        [StreamKeys.make(streamKey).partition(Partitioning.partitionOf(event(1).topic, 4)).stream]
      )
      const badCount = yield* Effect.flip(
        Effect.void.pipe(
          Effect.provide(
            RedisEventLog.layerConfig().pipe(
              Layer.provide(withEnv({ REDIS_URL: keys.url, STREAM_KEY: freshKey(), PARTITIONS: "0" }))
            )
          )
        )
      )
      assert.include(String(badCount), "PARTITIONS")
      const error = yield* Effect.flip(
        Effect.void.pipe(
          Effect.provide(
            RedisEventLog.layerConfig().pipe(Layer.provide(withEnv({ REDIS_URL: keys.url, STREAM_KEY: "{x}" })))
          )
        )
      )
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(String(error), StreamKeys.validate("{x}")!)
    }).pipe(Effect.scoped)
  )
})
