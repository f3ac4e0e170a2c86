/**
 * `EventLog` on a Redis Stream read by one consumer group (node-redis 6, RESP2).
 *
 * - append: one MULTI { XADD per event ({v, e}, see `Entry`), INCRBY received }: atomic, one round trip. Appends
 *   started in the same event-loop turn share that MULTI (a "group append", see `make`).
 * - read: XREADGROUP COUNT/BLOCK ">" on a dedicated (duplicated) connection, since a blocking read stalls its
 *   connection; reads of one log therefore run one at a time.
 * - ack: XACK. reclaim: XAUTOCLAIM with min-idle (in a script, see below), page after page until enough entries
 *   are claimed or the cursor is back at 0-0, then the delivery counts of the claimed ids from XPENDING. An entry
 *   deleted from the stream while pending (XDEL, or a MAXLEN trim by someone else) is dropped from the pending
 *   list by XAUTOCLAIM; the same script records it in the dead-letter stream and counts it, so it stays counted
 *   (`received` = processed + pending + dead-lettered) instead of vanishing.
 * - deadLetter: one Lua script { XACK; only if it was pending: XADD <key>:dlq {id, reason, deliveries, raw
 *   fields}; INCR counter }, so a double dead-letter (two consumers racing) counts once.
 * - stats: GET received, XINFO GROUPS (lag, pending), GET dead-letter counter.
 * - `trimAcknowledged`: XTRIM MINID to the oldest entry some group still needs. Streams are never capped with
 *   MAXLEN: that would drop entries nobody has acknowledged.
 *
 * Commands have no node-redis per-command timer (it costs ~2.5× on hot paths); each operation has one Effect
 * timeout instead, which fails with a retryable error. While the connection is down node-redis queues commands
 * and reconnects; an operation caught by the loss fails retryable and a later one succeeds.
 *
 * @remarks Does not retry and does not decide what to dead-letter: that is the consumer's job.
 */
import { EventLog } from "@agg/core"
import type { Event } from "@agg/schema"
import { Context, Duration, Effect, Exit, Layer, Redacted } from "effect"
import { createClient } from "redis"
import * as Entry from "./Entry.ts"
import { toEventLogError } from "./RedisError.ts"
import * as StreamKeys from "./StreamKeys.ts"

/** Settings of the Redis log. */
export interface RedisConfig {
  /** `redis://…` URL. */
  readonly url: string | Redacted.Redacted<string>
  /** `STREAM_KEY`: the stream's key, from which every other key derives (see `StreamKeys`). */
  readonly streamKey: string
  /** Consumer group name; default `<streamKey>:workers`. */
  readonly group?: string
  /** Time limit of one operation (a blocking read: its block time plus this); default 5 seconds. */
  readonly timeout?: Duration.Input
}

/**
 * A node-redis client as this adapter uses it (RESP2, named, no per-command timer), not yet connected.
 * @category constructors
 */
export const createLogClient = (url: string, name: string) =>
  // Named (CLIENT SETNAME) so CLIENT LIST shows whose connection is whose.
  createClient({ url, name, RESP: 2, commandOptions: { timeout: 0 } })
    // Errors are reported through the failing commands; the listener only keeps node-redis from throwing.
    .on("error", () => undefined)

/** A connected node-redis client as this module creates it. */
export type Client = ReturnType<typeof createLogClient>

interface RawMessage {
  readonly id: string
  readonly message: Record<string, string>
}
type XReadGroupReply = Array<{ readonly name: string; readonly messages: Array<RawMessage> }> | null

// KEYS: stream, dead-letter stream, dead-letter counter. ARGV: group, id, reason, deliveries.
const DEAD_LETTER_SCRIPT = `
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local fields = {'id', ARGV[2], 'reason', ARGV[3], 'deliveries', ARGV[4]}
local raw = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if raw[1] then
  local f = raw[1][2]
  for i = 1, #f, 2 do
    fields[#fields + 1] = 'raw.' .. f[i]
    fields[#fields + 1] = f[i + 1]
  end
end
redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('INCR', KEYS[3])
return 1`

// KEYS: stream, dead-letter stream, dead-letter counter. ARGV: group, consumer, min-idle ms, cursor, count.
// Returns XAUTOCLAIM's reply: {next cursor, {{id, {field, value, ...}}, ...}, {deleted id, ...}}.
const RECLAIM_SCRIPT = `
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local deleted = reply[3]
if deleted then
  for _, id in ipairs(deleted) do
    redis.call('XADD', KEYS[2], '*', 'id', id, 'reason', 'deleted from the stream while pending')
    redis.call('INCR', KEYS[3])
  end
end
return reply`

/** Most events of one group append's transaction (one caller's batch may exceed it and then goes alone). */
const MAX_GROUP_EVENTS = 2000

/** A caller of `append` waiting for its group's EXEC. */
interface AppendWaiter {
  readonly events: ReadonlyArray<Event>
  readonly resume: (result: Effect.Effect<void, EventLog.EventLogError>) => void
}

type ReclaimReply = [string, Array<[string, Array<string>] | null>, Array<string>?]

const toRecord = (flat: ReadonlyArray<string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

/** The log and its maintenance operation, on open clients. */
export interface RedisEventLog {
  readonly log: EventLog.EventLog["Service"]
  /**
   * Delete the entries every consumer group has acknowledged (older than each group's oldest pending entry and
   * last-delivered id); returns how many were deleted. Safe to run at any time, from any process.
   */
  readonly trimAcknowledged: Effect.Effect<number, EventLog.EventLogError>
  readonly keys: StreamKeys.StreamKeys
}

/** Compare stream ids `ms-seq`. */
const compareIds = (a: string, b: string): number => {
  const [am = 0n, as = 0n] = a.split("-").map(BigInt)
  const [bm = 0n, bs = 0n] = b.split("-").map(BigInt)
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1
}

/**
 * The log on open clients: `client` for ordinary commands, `blocking` (a duplicate) for XREADGROUP. Creates the
 * group (and the stream) when missing. The caller owns the clients.
 * @category constructors
 */
export const make = (
  client: Client,
  blocking: Client,
  keys: StreamKeys.StreamKeys,
  timeout: Duration.Input = "5 seconds"
): Effect.Effect<RedisEventLog, EventLog.EventLogError> =>
  Effect.gen(function* () {
    const limit = Duration.fromInputUnsafe(timeout)
    const run = <A>(operation: string, f: () => Promise<A>, extra: Duration.Duration = Duration.zero) =>
      Effect.tryPromise({ try: f, catch: (cause) => toEventLogError(operation, cause) }).pipe(
        Effect.timeoutOrElse({
          duration: Duration.sum(limit, extra),
          orElse: () =>
            Effect.fail(
              new EventLog.EventLogError({
                operation,
                retryable: true,
                message: `${operation} timed out after ${Duration.format(Duration.sum(limit, extra))}`
              })
            )
        })
      )

    yield* run("createGroup", () =>
      client.xGroupCreate(keys.stream, keys.group, "0", { MKSTREAM: true }).then(
        () => undefined,
        (cause: unknown) => {
          if (cause instanceof Error && cause.message.startsWith("BUSYGROUP")) return undefined
          throw cause
        }
      )
    )

    // Group append: the appends started within one event-loop turn (e.g. the single-event requests whose bodies
    // arrived in the same poll phase) share one MULTI { XADD…, INCRBY total } / EXEC, flushed by `setImmediate`.
    // A transaction of several callers' events is a superset of each caller's, so each append stays atomic;
    // every caller is answered only after that EXEC succeeded, and a failure (or the timeout) fails all of them
    // with the same error. An append interrupted before its group was sent leaves it (nothing of it is written).
    // Per request this saves three of the four commands and a Promise, a timer and a reply parse of each.
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    let group: Array<AppendWaiter> = []
    let groupEvents = 0
    const flush = () => {
      const waiters = group
      const count = groupEvents
      group = []
      groupEvents = 0
      if (waiters.length === 0) return
      const multi = client.multi()
      for (const waiter of waiters) for (const event of waiter.events) multi.xAdd(keys.stream, "*", Entry.encode(event))
      multi.incrBy(keys.received, count)
      runFork(run("append", () => multi.exec())).addObserver((exit) => {
        const result = Exit.isSuccess(exit) ? Effect.void : Effect.failCause(exit.cause)
        for (const waiter of waiters) waiter.resume(result)
      })
    }
    const append = (events: ReadonlyArray<Event>): Effect.Effect<void, EventLog.EventLogError> => {
      if (events.length === 0) return Effect.void
      return Effect.callback<void, EventLog.EventLogError>((resume) => {
        // A big group goes now rather than growing one transaction without bound (Redis runs EXEC as one unit).
        if (groupEvents > 0 && groupEvents + events.length > MAX_GROUP_EVENTS) flush()
        const waiter: AppendWaiter = { events, resume }
        if (group.length === 0) setImmediate(flush)
        group.push(waiter)
        groupEvents += events.length
        return Effect.sync(() => {
          const i = group.indexOf(waiter)
          if (i >= 0) {
            group.splice(i, 1)
            groupEvents -= events.length
          }
        })
      })
    }

    const read = (consumer: string, options: { readonly count: number; readonly block: Duration.Duration }) => {
      const blockMs = Duration.toMillis(options.block)
      return run(
        "read",
        async () => {
          const reply = (await blocking.xReadGroup(
            keys.group,
            consumer,
            { key: keys.stream, id: ">" },
            blockMs > 0 ? { COUNT: options.count, BLOCK: Math.ceil(blockMs) } : { COUNT: options.count }
          )) as XReadGroupReply
          return (reply?.[0]?.messages ?? []).map((m) => Entry.decode(m.id, m.message, 1))
        },
        options.block
      )
    }

    const ack = (ids: ReadonlyArray<string>) =>
      ids.length === 0
        ? Effect.void
        : run("ack", () => client.xAck(keys.stream, keys.group, [...ids])).pipe(Effect.asVoid)

    const reclaim = (consumer: string, options: { readonly minIdle: Duration.Duration; readonly count: number }) =>
      run("reclaim", async () => {
        const minIdle = Math.floor(Duration.toMillis(options.minIdle))
        const claimed: Array<RawMessage> = []
        let cursor = "0-0"
        // One XAUTOCLAIM call scans at most 10 × COUNT pending entries, so a pending list whose head is busy
        // (entries of live consumers) needs several pages: go on until enough are claimed or the cursor is back
        // at 0-0, so that returning fewer than `count` means "no more idle entries" (the consumer relies on it).
        do {
          const [next, messages] = (await client.eval(RECLAIM_SCRIPT, {
            keys: [keys.stream, keys.deadLetter, keys.deadLettered],
            arguments: [keys.group, consumer, String(minIdle), cursor, String(options.count - claimed.length)]
          })) as ReclaimReply
          for (const m of messages) if (m !== null) claimed.push({ id: m[0], message: toRecord(m[1]) })
          cursor = next
        } while (cursor !== "0-0" && claimed.length < options.count)
        if (claimed.length === 0) return []
        const multi = client.multi()
        for (const m of claimed) multi.xPendingRange(keys.stream, keys.group, m.id, m.id, 1)
        const counts = (await multi.execAsPipeline()) as unknown as Array<
          Array<{ readonly id: string; readonly deliveriesCounter: number }>
        >
        return claimed.map((m, i) => Entry.decode(m.id, m.message, counts[i]?.[0]?.deliveriesCounter ?? 1))
      })

    const deadLetter = (entry: EventLog.LogEntry, reason: string) =>
      run("deadLetter", () =>
        client.eval(DEAD_LETTER_SCRIPT, {
          keys: [keys.stream, keys.deadLetter, keys.deadLettered],
          arguments: [keys.group, entry.id, reason, String(entry.deliveries)]
        })
      ).pipe(Effect.asVoid)

    const stats = run("stats", async () => {
      const [received, groups, dead] = (await client
        .multi()
        .get(keys.received)
        .xInfoGroups(keys.stream)
        .get(keys.deadLettered)
        .execAsPipeline()) as unknown as [
        string | null,
        Array<{ name: string; pending: number; lag: number | null; "last-delivered-id": string }>,
        string | null
      ]
      const group = groups.find((g) => g.name === keys.group)
      if (group === undefined) throw new Error(`consumer group ${keys.group} does not exist on ${keys.stream}`)
      // lag is nil when Redis cannot compute it (entries deleted in the range); count the range instead.
      const lag = group.lag ?? ((await client.xRange(keys.stream, `(${group["last-delivered-id"]}`, "+")) ?? []).length
      return {
        received: Number(received ?? 0),
        lag,
        pending: group.pending,
        deadLettered: Number(dead ?? 0)
      }
    })

    const trimAcknowledged = run("trimAcknowledged", async () => {
      const groups = await client.xInfoGroups(keys.stream)
      if (groups.length === 0) return 0
      const needed: Array<string> = []
      for (const g of groups) {
        const name = String(g.name)
        const pending = await client.xPending(keys.stream, name)
        // Entries up to last-delivered-id were delivered; the oldest still pending is the first one needed.
        needed.push(pending.firstId ?? nextId(String(g["last-delivered-id"])))
      }
      const minId = needed.reduce((a, b) => (compareIds(a, b) <= 0 ? a : b))
      return client.xTrim(keys.stream, "MINID", minId)
    })

    return { log: EventLog.EventLog.of({ append, read, ack, reclaim, deadLetter, stats }), trimAcknowledged, keys }
  })

/** The id right after `id` (entries < it are all delivered when `id` is the last-delivered id). */
const nextId = (id: string): string => {
  const [ms = "0", seq = "0"] = id.split("-")
  return `${ms}-${BigInt(seq) + 1n}`
}

/**
 * Connect both clients (closed on release: the blocking one is destroyed first so a pending XREADGROUP breaks).
 * @category constructors
 */
export const makeScoped = (config: RedisConfig) =>
  Effect.gen(function* () {
    const keys = StreamKeys.make(config.streamKey, config.group)
    const url = Redacted.isRedacted(config.url) ? Redacted.value(config.url) : config.url
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => createLogClient(url, `${keys.stream}:log`).connect(),
        catch: (c) => toEventLogError("connect", c)
      }),
      (c) => Effect.promise(() => c.close().catch(() => c.destroy()))
    )
    const blocking = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          client
            .duplicate({ name: `${keys.stream}:log:blocking` })
            .on("error", () => undefined)
            .connect(),
        catch: (c) => toEventLogError("connect", c)
      }),
      (c) => Effect.sync(() => c.destroy())
    )
    return yield* make(client, blocking, keys, config.timeout)
  })

/** Maintenance of the stream, alongside the `EventLog` of the same layer. @category services */
export class RedisStreamMaintenance extends Context.Service<
  RedisStreamMaintenance,
  { readonly trimAcknowledged: Effect.Effect<number, EventLog.EventLogError> }
>()("@agg/storage/RedisStreamMaintenance") {}

/**
 * `EventLog` and `RedisStreamMaintenance` on Redis: connects, creates the group, closes on release.
 * @category layers
 */
export const layer = (
  config: RedisConfig
): Layer.Layer<EventLog.EventLog | RedisStreamMaintenance, EventLog.EventLogError> =>
  Layer.effectContext(
    Effect.map(makeScoped(config), (r) =>
      Context.make(EventLog.EventLog, r.log).pipe(
        Context.add(RedisStreamMaintenance, { trimAcknowledged: r.trimAcknowledged })
      )
    )
  )
