/**
 * `EventLog` on Redis Streams read by one consumer group (node-redis 6, RESP2). Every key comes from
 * `StreamKeys`; today the log has one partition, 0, whose stream `{S:p0}:stream` is the `stream` of every entry.
 *
 * - append: one MULTI { XADD per event ({v, e}, see `Entry`), INCRBY received }: atomic, one round trip. Many
 *   small appends (the HTTP hot path sends one request's events each) share one MULTI through core's
 *   `GroupCommit`: while a transaction is in flight the next callers queue up and go together in the next one;
 *   a caller's events are never split, so each append stays atomic.
 * - read: XREADGROUP COUNT/BLOCK ">" on a dedicated (duplicated) connection, since a blocking read stalls its
 *   connection; reads of one log therefore run one at a time.
 * - ack: XACK of each entry on its own stream (entries of streams outside this log are ignored).
 * - heartbeat: a `Liveness` mark `{S}:consumer:<name>` (SET PX), expiring by itself.
 * - reclaim: XINFO CONSUMERS, then one MGET of the other consumers' marks; for each dead one (no mark), its
 *   entries idle past min-idle (XPENDING IDLE … <consumer>) are claimed with the `claim-3.lua` script, which
 *   re-checks owner and idle time atomically (so a consumer that came back is never robbed) and returns the
 *   entries with their delivery counts. An entry deleted from the stream while pending (XDEL, or a trim by someone
 *   else) is recorded by the script in the dead-letter stream and counted, so it stays counted
 *   (`received` = processed + pending + dead-lettered) instead of vanishing. A dead consumer with nothing pending
 *   is removed from the group by `removeConsumer-1.lua` (the pending check and XGROUP DELCONSUMER in one step).
 * - deadLetter: the `deadLetter-4.lua` script { XACK; only if it was pending: XADD dlq {id, reason, deliveries,
 *   raw fields}; INCR counter; beyond the cap, XTRIM the oldest and move their count to `discarded` }, so a
 *   double dead-letter (two consumers racing) counts once. (Entries the claim script records as deleted are
 *   trimmed by the next dead-letter.)
 * - deadLetters: XRANGE of the dead-letter stream after the cursor; the raw fields decode with `Entry`.
 * - redrive: `redrive-3.lua` per page of ids { XADD the raw fields to the stream; XDEL dlq; DECR counter },
 *   atomic per entry; "all" pages up to the newest dead letter at the start, so entries that fail again and
 *   come back meanwhile are not redriven a second time by the same call.
 * - discard: `discard-3.lua` { XDEL; move the count from dead-lettered to discarded }; "all" is one DEL.
 * - stats: GET received, XINFO GROUPS (lag, pending), GET dead-letter counter; when Redis reports no lag, at most
 *   two XRANGEs with COUNT (see `countLag`): never a read of the whole backlog.
 * - consumers: XINFO CONSUMERS (name, pending, idle) and one MGET of their `Liveness` marks.
 * - deliveryFloor: the group's oldest pending id (XPENDING), else the id after its last-delivered id.
 * - `trimAcknowledged`: XTRIM MINID to the oldest entry some group still needs. Streams are never capped with
 *   MAXLEN: that would drop entries nobody has acknowledged.
 *
 * At start the log refuses to run beside a stream in the layout of earlier versions (stream at `STREAM_KEY`
 * itself): its entries would never be read, and its counters would not add up with the new ones.
 *
 * Commands have no node-redis per-command timer (it costs ~2.5× on hot paths); each operation has one Effect
 * timeout instead, which fails with a retryable error. While the connection is down node-redis reconnects and
 * fails every command at once (no offline queue), so an operation caught by the loss fails retryable and a later
 * one succeeds, and an append the api answered 503 for can never run later, on the reconnect.
 *
 * @remarks Does not retry and does not decide what to dead-letter: that is the consumer's job.
 */
import { EventLog, GroupCommit } from "@agg/core"
import type { Event } from "@agg/schema"
import { Config, Context, Duration, Effect, Exit, Layer, Redacted, Schedule, Schema, Scope } from "effect"
import { createClient } from "redis"
import * as Entry from "./Entry.ts"
import * as Liveness from "./Liveness.ts"
import { startProblem, toEventLogError } from "./RedisError.ts"
import { scripts } from "./Scripts.ts"
import * as StreamKeys from "./StreamKeys.ts"

/** Settings of the Redis log. */
export interface RedisConfig {
  /** `redis://…` URL. */
  readonly url: string | Redacted.Redacted<string>
  /** `STREAM_KEY`: the deployment's name, from which every key derives (see `StreamKeys`). */
  readonly streamKey: string
  /** Consumer group name; default `<streamKey>:workers`. */
  readonly group?: string
  /** Time limit of one operation (a blocking read: its block time plus this); default 5 seconds. */
  readonly timeout?: Duration.Input
  /** Most entries the dead-letter stream keeps (the oldest beyond are discarded); default `defaultDeadLetterCap`. */
  readonly deadLetterCap?: number
}

/**
 * A node-redis client as this adapter uses it (RESP2, named, no per-command timer, the log's Lua scripts
 * defined), not yet connected.
 * @category constructors
 */
export const createLogClient = (url: string, name: string) => {
  // Until its first connection, a client does not reconnect by itself: `connect()` then fails with the cause
  // (instead of waiting for ever), and the caller decides whether and when to try again. Once connected, a lost
  // connection is re-established with node-redis' own backoff (exponential to 2 s, with jitter).
  let connected = false
  // Named (CLIENT SETNAME) so CLIENT LIST shows whose connection is whose. No offline queue: a command queued
  // while disconnected would outlive its operation's timeout and run on the reconnect, after its caller was told
  // it failed (an append answered 503 would still be appended).
  return (
    createClient({
      url,
      name,
      RESP: 2,
      commandOptions: { timeout: 0 },
      scripts,
      disableOfflineQueue: true,
      socket: {
        reconnectStrategy: (retries: number, cause: Error) =>
          connected ? Math.min(2 ** retries * 50, 2000) + Math.floor(Math.random() * 200) : cause
      }
    })
      .on("ready", () => {
        connected = true
      })
      // Errors are reported through the failing commands; the listener only keeps node-redis from throwing.
      .on("error", () => undefined)
  )
}

/** A connected node-redis client as this module creates it. */
export type Client = ReturnType<typeof createLogClient>

interface RawMessage {
  readonly id: string
  readonly message: Record<string, string>
}
type XReadGroupReply = Array<{ readonly name: string; readonly messages: Array<RawMessage> }> | null

/** Most events of one append transaction (one caller's larger batch still goes alone): Redis runs EXEC as one unit. */
const MAX_APPEND_EVENTS = 2000

/** Most entries one XRANGE of `stats` fetches (entries carry their payloads: this bounds its memory and time). */
const LAG_COUNT_LIMIT = 100

/** Append transactions in flight at once. */
const APPEND_CONCURRENCY = 2

/** Most entries one claim script call takes (its ids are the script's arguments). */
const CLAIM_PAGE = 500

/** Most dead letters one redrive or discard script call takes (its ids are the script's arguments). */
const DEAD_LETTER_PAGE = 200

/** A stream id `<ms>-<seq>`: anything else is no dead letter (and would make XRANGE fail). */
const STREAM_ID = /^[0-9]{1,20}-[0-9]{1,20}$/

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
  readonly trimAcknowledged: Effect.Effect<number, EventLogError>
  readonly keys: StreamKeys.StreamKeys
}

type EventLogError = EventLog.EventLogError

/** The id right after `id` (entries < it are all delivered when `id` is the last-delivered id). */
const nextId = (id: string): string => {
  const [ms = "0", seq = "0"] = id.split("-")
  return `${ms}-${BigInt(seq) + 1n}`
}

const refused = (operation: string, message: string) =>
  new EventLog.EventLogError({ operation, retryable: false, message })

/**
 * The log on open clients: `client` for ordinary commands, `blocking` (a duplicate) for XREADGROUP, both made by
 * `createLogClient`. Refuses to start beside a stream of the earlier key layout, creates the group (and the
 * stream) when missing. The caller owns the clients; appends accepted before the scope closes are sent first.
 * @category constructors
 */
export const make = (
  client: Client,
  blocking: Client,
  keys: StreamKeys.StreamKeys,
  timeout: Duration.Input = "5 seconds",
  deadLetterCap: number = EventLog.defaultDeadLetterCap
): Effect.Effect<RedisEventLog, EventLogError, Scope.Scope> =>
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

    const p0 = keys.partition(0)
    const partitions = new Map([[p0.stream, p0]])

    const legacy = keys.legacy
    if ((yield* run("start", () => client.type(legacy.stream))) === "stream") {
      return yield* refused(
        "start",
        `STREAM_KEY ${JSON.stringify(keys.streamKey)}: the Redis key ${JSON.stringify(legacy.stream)} holds a stream ` +
          `of an earlier version's key layout (this version uses ${p0.stream} and keys beside it), whose entries ` +
          "would never be read. Drain that deployment with the previous version and delete its keys " +
          `(${[legacy.stream, legacy.received, legacy.deadLetter, legacy.deadLettered].join(", ")}), ` +
          "or choose another STREAM_KEY."
      )
    }

    yield* run("createGroup", () =>
      client.xGroupCreate(p0.stream, keys.group, "0", { MKSTREAM: true }).then(
        () => undefined,
        (cause: unknown) => {
          if (cause instanceof Error && cause.message.startsWith("BUSYGROUP")) return undefined
          throw cause
        }
      )
    )

    // One transaction for the events of all the callers grouped by `GroupCommit`.
    const appendAll = (events: ReadonlyArray<Event>) =>
      run("append", () => {
        const multi = client.multi()
        for (const event of events) multi.xAdd(p0.stream, "*", Entry.encode(event))
        multi.incrBy(p0.received, events.length)
        return multi.exec()
      }).pipe(Effect.as(events))
    const appends = yield* GroupCommit.make(appendAll, {
      maxEvents: MAX_APPEND_EVENTS,
      concurrency: APPEND_CONCURRENCY,
      // No capacity of its own, as the callers' request limits and concurrency already bound what waits.
      capacity: Number.MAX_SAFE_INTEGER
    }).pipe(Effect.orDie) // constant, valid options
    const toLogError = (
      e: EventLogError | GroupCommit.GroupCommitOverloaded | GroupCommit.GroupCommitClosed
    ): EventLogError =>
      e._tag === "EventLogError"
        ? e
        : new EventLog.EventLogError({
            operation: "append",
            retryable: true,
            message:
              e._tag === "GroupCommitClosed" ? "append failed: log closed" : `append failed: ${e.waiting} waiting`
          })
    // The results (the events themselves) are not needed: the port's append answers void.
    const append = (events: ReadonlyArray<Event>): Effect.Effect<void, EventLogError> =>
      Effect.mapError(appends.submit(events), toLogError)

    const read = (consumer: string, options: { readonly count: number; readonly block: Duration.Duration }) => {
      const blockMs = Duration.toMillis(options.block)
      return run(
        "read",
        async () => {
          const reply = (await blocking.xReadGroup(
            keys.group,
            consumer,
            { key: p0.stream, id: ">" },
            blockMs > 0 ? { COUNT: options.count, BLOCK: Math.ceil(blockMs) } : { COUNT: options.count }
          )) as XReadGroupReply
          return (reply?.[0]?.messages ?? []).map((m) => Entry.decode(p0.stream, m.id, m.message, 1))
        },
        options.block
      )
    }

    const ack = (refs: ReadonlyArray<EventLog.EntryRef>) => {
      const byStream = new Map<string, Array<string>>()
      for (const ref of refs) {
        if (!partitions.has(ref.stream)) continue
        const ids = byStream.get(ref.stream)
        if (ids === undefined) byStream.set(ref.stream, [ref.id])
        else ids.push(ref.id)
      }
      return byStream.size === 0
        ? Effect.void
        : run("ack", () =>
            Promise.all([...byStream].map(([stream, ids]) => client.xAck(stream, keys.group, ids)))
          ).pipe(Effect.asVoid)
    }

    const liveness = Liveness.make(client, keys.consumer)
    const heartbeat = (consumer: string, ttl: Duration.Duration) => run("heartbeat", () => liveness.beat(consumer, ttl))

    const reclaim = (consumer: string, options: EventLog.ReclaimOptions) =>
      run("reclaim", async () => {
        const minIdle = Math.floor(Duration.toMillis(options.minIdle))
        const claimed: Array<EventLog.LogEntry> = []
        // Its own lost deliveries (pending for it, idle, not in hand), claimed back to itself.
        if (options.own !== undefined) {
          const ownIdle = Math.floor(Duration.toMillis(options.own.minIdle))
          const page = await client.xPendingRange(
            p0.stream,
            keys.group,
            "-",
            "+",
            Math.min(options.count, CLAIM_PAGE),
            {
              IDLE: ownIdle,
              consumer
            }
          )
          const held = options.own.held
          const lost = page.map((p) => p.id).filter((id) => !held.has(EventLog.refKey({ stream: p0.stream, id })))
          if (lost.length > 0) {
            for (const [id, fields, deliveries] of await client.claim(
              p0,
              keys.group,
              consumer,
              consumer,
              ownIdle,
              lost
            ))
              claimed.push(Entry.decode(p0.stream, id, toRecord(fields), Number(deliveries)))
          }
        }
        const members = (await client.xInfoConsumers(p0.stream, keys.group)) as unknown as Array<{
          readonly name: string
          readonly pending: number
        }>
        const others = members.filter((m) => m.name !== consumer)
        const alive = await liveness.alive(others.map((m) => m.name))
        const dead = others.filter((m) => !alive.has(m.name))
        for (const member of dead) {
          if (member.pending === 0) {
            await client.removeConsumer(p0, keys.group, member.name)
            continue
          }
          // Page through this consumer's idle entries; each claim takes them off its list, so the next page is new.
          while (claimed.length < options.count) {
            const want = Math.min(options.count - claimed.length, CLAIM_PAGE)
            const page = await client.xPendingRange(p0.stream, keys.group, "-", "+", want, {
              IDLE: minIdle,
              consumer: member.name
            })
            if (page.length === 0) break
            const got = await client.claim(
              p0,
              keys.group,
              consumer,
              member.name,
              minIdle,
              page.map((p) => p.id)
            )
            for (const [id, fields, deliveries] of got)
              claimed.push(Entry.decode(p0.stream, id, toRecord(fields), Number(deliveries)))
            if (page.length < want || got.length === 0) break
          }
          if (claimed.length >= options.count) break
        }
        return claimed
      })

    const deadLetter = (entry: EventLog.LogEntry, reason: string) => {
      const partition = partitions.get(entry.stream)
      return partition === undefined
        ? Effect.fail(refused("deadLetter", `entry ${entry.id} is of stream ${entry.stream}, not of this log`))
        : run("deadLetter", () =>
            client.deadLetter(partition, keys.group, entry.id, reason, entry.deliveries, Math.max(1, deadLetterCap))
          ).pipe(Effect.asVoid)
    }

    const toDeadLetter = (id: string, fields: Record<string, string>): EventLog.DeadLetterEntry => {
      const raw: Record<string, string> = {}
      for (const [name, value] of Object.entries(fields)) if (name.startsWith("raw.")) raw[name.slice(4)] = value
      const entryId = fields["id"] ?? ""
      const deliveries = Number(fields["deliveries"] ?? 0)
      const decoded = Entry.decode(p0.stream, entryId, raw, deliveries)
      const base64 = (value: string) => Buffer.from(value, "utf8").toString("base64")
      return {
        id,
        entry: { stream: p0.stream, id: entryId },
        reason: fields["reason"] ?? "",
        deliveries: Number.isSafeInteger(deliveries) ? deliveries : 0,
        deadLetteredAt: new Date(Number(id.slice(0, id.indexOf("-")))).toISOString(),
        content:
          Object.keys(raw).length === 0
            ? { _tag: "Lost" }
            : decoded._tag === "Event"
              ? { _tag: "Event", event: decoded.event }
              : { _tag: "Undecodable", raw: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, base64(v)])) }
      }
    }

    const deadLetters = (query: { readonly after?: string; readonly limit: number }) =>
      query.after !== undefined && !STREAM_ID.test(query.after)
        ? Effect.fail(refused("deadLetters", `after must be a stream id <ms>-<seq>, got ${query.after.slice(0, 50)}`))
        : run("deadLetters", async () => {
            const start = query.after === undefined ? "-" : `(${query.after}`
            const page = (await client.xRange(p0.deadLetter, start, "+", { COUNT: Math.max(1, query.limit) })) ?? []
            const entries = page.map((m) => toDeadLetter(m.id, m.message as Record<string, string>))
            return { entries, nextAfter: entries.at(-1)?.id ?? query.after ?? "0-0" }
          })

    const redrivePage = async (ids: ReadonlyArray<string>) => {
      const [count, missing, skipped] = await client.redrive(p0, ids)
      return { count, missing: [...missing], skipped: [...skipped] }
    }
    // Given ids a page at a time, outcomes in the order given; an id that is no stream id is missing.
    const byPages = async (
      ids: ReadonlyArray<string>,
      page: (ids: ReadonlyArray<string>) => Promise<EventLog.DeadLetterOutcome>
    ): Promise<EventLog.DeadLetterOutcome> => {
      const valid = ids.filter((id) => STREAM_ID.test(id))
      const missing = new Set(ids.filter((id) => !STREAM_ID.test(id)))
      const skipped = new Set<string>()
      let count = 0
      for (let i = 0; i < valid.length; i += DEAD_LETTER_PAGE) {
        const result = await page(valid.slice(i, i + DEAD_LETTER_PAGE))
        count += result.count
        for (const id of result.missing) missing.add(id)
        for (const id of result.skipped) skipped.add(id)
      }
      return { count, missing: ids.filter((id) => missing.has(id)), skipped: ids.filter((id) => skipped.has(id)) }
    }

    const redrive = (ids: ReadonlyArray<string> | "all") =>
      run("redrive", async () => {
        if (ids !== "all") return byPages(ids, redrivePage)
        const out = { count: 0, missing: [] as Array<string>, skipped: [] as Array<string> }
        // Up to the newest dead letter now: an entry that fails again comes back with a later id and stays.
        const newest = ((await client.xRevRange(p0.deadLetter, "+", "-", { COUNT: 1 })) ?? [])[0]?.id
        if (newest === undefined) return out
        let after = "-"
        while (true) {
          const page = (await client.xRange(p0.deadLetter, after, newest, { COUNT: DEAD_LETTER_PAGE })) ?? []
          if (page.length === 0) break
          const result = await redrivePage(page.map((m) => m.id))
          out.count += result.count
          out.skipped.push(...result.skipped) // missing: discarded or redriven by someone else meanwhile
          after = `(${page.at(-1)!.id}`
          if (page.length < DEAD_LETTER_PAGE) break
        }
        return out
      })

    const discard = (ids: ReadonlyArray<string> | "all") =>
      run("discard", async () => {
        if (ids === "all") {
          const [count] = await client.discard(p0, "all")
          return { count, missing: [], skipped: [] }
        }
        return byPages(ids, async (page) => {
          const [count, missing] = await client.discard(p0, page)
          return { count, missing, skipped: [] }
        })
      })

    // Redis reports no lag while an entry after the group's cursor was deleted (until the group reads past it).
    // Counted then from whichever side of the cursor is short, each read capped at LAG_COUNT_LIMIT entries: the
    // undelivered entries, or the delivered ones still in the stream (the pending ones and those acknowledged but
    // not yet trimmed), subtracted from its length. Only when both sides are longer is the figure Redis' own
    // estimate, entries added minus entries read, which also counts the deleted entries ahead of the cursor.
    const countLag = async (group: {
      readonly "last-delivered-id": string
      readonly "entries-read"?: number | null
    }) => {
      const last = group["last-delivered-id"]
      const ahead = (await client.xRange(p0.stream, `(${last}`, "+", { COUNT: LAG_COUNT_LIMIT + 1 })) ?? []
      if (ahead.length <= LAG_COUNT_LIMIT) return ahead.length
      const [behind, info] = (await client
        .multi()
        .xRange(p0.stream, "-", last, { COUNT: LAG_COUNT_LIMIT + 1 })
        .xInfoStream(p0.stream)
        .execAsPipeline()) as unknown as [ReadonlyArray<unknown>, { readonly length: number; "entries-added"?: number }]
      if (behind.length <= LAG_COUNT_LIMIT) return info.length - behind.length
      const read = group["entries-read"]
      const added = info["entries-added"]
      return typeof read === "number" && typeof added === "number" ? Math.max(0, added - read) : info.length
    }

    const stats = run("stats", async () => {
      const [received, groups, dead, discarded, length, newest] = (await client
        .multi()
        .get(p0.received)
        .xInfoGroups(p0.stream)
        .get(p0.deadLettered)
        .get(p0.discarded)
        .xLen(p0.stream)
        .xRevRange(p0.stream, "+", "-", { COUNT: 1 })
        .execAsPipeline()) as unknown as [
        string | null,
        Array<{ name: string; pending: number; lag: number | null; "last-delivered-id": string }>,
        string | null,
        string | null,
        number,
        Array<{ readonly id: string }>
      ]
      const group = groups.find((g) => g.name === keys.group)
      if (group === undefined) throw new Error(`consumer group ${keys.group} does not exist on ${p0.stream}`)
      // Redis's own figure can overshoot when its entries-read counter drifts (seen in the chaos run after Redis
      // restarts under load: lag 166,000 on an empty, fully delivered stream). Two exact bounds: nothing waits once
      // the newest entry was delivered, and every undelivered entry is still in the stream (trimming stops at the
      // oldest one a group needs), so the stream's length bounds the lag.
      const newestId = newest[0]?.id
      const lag =
        newestId === undefined || !EventLog.isBelow(group["last-delivered-id"], newestId)
          ? 0
          : Math.min(group.lag ?? (await countLag(group)), length)
      return {
        received: Number(received ?? 0),
        lag,
        pending: group.pending,
        deadLettered: Number(dead ?? 0),
        discarded: Number(discarded ?? 0)
      }
    })

    // The reads `reclaim` starts with (XINFO CONSUMERS, one MGET of the marks), and nothing else.
    const consumers = run("consumers", async () => {
      const members = (await client.xInfoConsumers(p0.stream, keys.group)) as unknown as Array<{
        readonly name: string
        readonly pending: number
        readonly idle: number
      }>
      const alive = await liveness.alive(members.map((m) => m.name))
      return members.map((m) => ({ name: m.name, pending: m.pending, idleMs: m.idle, alive: alive.has(m.name) }))
    })

    // This log's group only: other groups on the stream are other services' business.
    const deliveryFloor = run("deliveryFloor", async () => {
      const [groups, pending] = (await client
        .multi()
        .xInfoGroups(p0.stream)
        .xPending(p0.stream, keys.group)
        .execAsPipeline()) as unknown as [
        Array<{ name: string; "last-delivered-id": string }>,
        { readonly firstId: string | null }
      ]
      const group = groups.find((g) => g.name === keys.group)
      if (group === undefined) throw new Error(`consumer group ${keys.group} does not exist on ${p0.stream}`)
      const last = group["last-delivered-id"]
      if (pending.firstId === null && last === "0-0") return []
      return [{ stream: p0.stream, id: pending.firstId ?? nextId(last) }]
    })

    const trimAcknowledged = run("trimAcknowledged", async () => {
      const groups = await client.xInfoGroups(p0.stream)
      if (groups.length === 0) return 0
      const needed: Array<string> = []
      for (const g of groups) {
        const name = String(g.name)
        const pending = await client.xPending(p0.stream, name)
        // Entries up to last-delivered-id were delivered; the oldest still pending is the first one needed.
        needed.push(pending.firstId ?? nextId(String(g["last-delivered-id"])))
      }
      const minId = needed.reduce((a, b) => (EventLog.isBelow(b, a) ? b : a))
      return client.xTrim(p0.stream, "MINID", minId)
    })

    return {
      log: EventLog.EventLog.of({
        append,
        read,
        ack,
        heartbeat,
        reclaim,
        deadLetter,
        deadLetters,
        redrive,
        discard,
        stats,
        consumers,
        deliveryFloor
      }),
      trimAcknowledged,
      keys
    }
  })

/**
 * Connect both clients and open the log on them. On release, appends already accepted are sent, then the
 * blocking client is destroyed (so a pending XREADGROUP breaks) and the other closed.
 * @category constructors
 */
export const makeScoped = (config: RedisConfig) =>
  Effect.gen(function* () {
    const keys = StreamKeys.make(config.streamKey, config.group)
    const url = Redacted.isRedacted(config.url) ? Redacted.value(config.url) : config.url
    const client = yield* connectClient(() => createLogClient(url, `${keys.streamKey}:log`), "close")
    const blocking = yield* connectClient(
      () => client.duplicate({ name: `${keys.streamKey}:log:blocking` }).on("error", () => undefined),
      "destroy"
    )
    return yield* make(client, blocking, keys, config.timeout, config.deadLetterCap)
  })

/** Connect a client, interruptibly (used by this log and by `CommitChannel`). */
// Connect a client, interruptibly: the client is released by the scope (closed once connected, else destroyed,
// which also ends a connection attempt in progress), so a stop signal never waits for a server that does not answer.
export const connectClient = <C extends Client>(create: () => C, release: "close" | "destroy") =>
  Effect.gen(function* () {
    const c = yield* Effect.try({ try: create, catch: (cause) => toEventLogError("connect", cause) })
    yield* Effect.addFinalizer(() =>
      release === "close" && c.isReady
        ? Effect.promise(() => c.close().catch(() => c.destroy()))
        : Effect.sync(() => {
            if (c.isOpen) c.destroy()
          })
    )
    // Bounded: a server that accepts the connection but never answers the handshake counts as unreachable.
    yield* Effect.tryPromise({ try: () => c.connect(), catch: (cause) => toEventLogError("connect", cause) }).pipe(
      Effect.timeoutOrElse({
        duration: CONNECT_TIMEOUT,
        orElse: () =>
          Effect.fail(
            new EventLog.EventLogError({
              operation: "connect",
              retryable: true,
              message: `connect timed out after ${Duration.format(CONNECT_TIMEOUT)} (no answer from the server)`
            })
          )
      })
    )
    return c
  })

const CONNECT_TIMEOUT = Duration.seconds(5)

// Between attempts to reach Redis at start: 200 ms doubling to 10 s.
const startBackoff = Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("10 seconds")])

/**
 * `makeScoped`, tried until it succeeds: a failure that may pass by itself (Redis down or not yet resolvable,
 * loading, a timeout) is logged as a warning with its cause and tried again after a backoff (200 ms doubling to
 * 10 s); one that will not (refused credentials, a malformed URL, a refused command) fails at once with a message
 * naming REDIS_URL (see `startProblem`). Each attempt's connections are closed before the next one; an interrupt
 * (a stop signal) ends the wait or the attempt in progress at once.
 * @category constructors
 */
export const makeRetrying = (
  config: RedisConfig,
  firstAttempt = 1
): Effect.Effect<RedisEventLog, EventLogError, Scope.Scope> => {
  let attempt = firstAttempt
  return Effect.suspend(() => startAttempt(config, attempt++)).pipe(
    Effect.retry({ schedule: startBackoff, while: (error) => error.retryable })
  )
}

// One attempt of `makeRetrying`, in a scope of its own that is closed when it fails.
const startAttempt = (config: RedisConfig, attempt: number) =>
  Effect.gen(function* () {
    const scope = yield* Scope.fork(yield* Effect.scope)
    return yield* makeScoped(config).pipe(
      Scope.provide(scope),
      Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))),
      Effect.mapError((error) => {
        const problem = startProblem(error)
        return problem === undefined
          ? error
          : new EventLog.EventLogError({ operation: "start", retryable: false, message: problem, cause: error })
      }),
      Effect.tapError((error) =>
        error.retryable
          ? Effect.logWarning("Redis (REDIS_URL) unreachable at start; retrying", {
              attempt,
              cause: error.message
            })
          : Effect.void
      )
    )
  })

/** Maintenance of the stream, alongside the `EventLog` of the same layer. @category services */
export class RedisStreamMaintenance extends Context.Service<
  RedisStreamMaintenance,
  { readonly trimAcknowledged: Effect.Effect<number, EventLogError> }
>()("@agg/storage/RedisStreamMaintenance") {}

/**
 * `EventLog` and `RedisStreamMaintenance` on Redis: connects, creates the group, closes on release.
 * @category layers
 */
export const layer = (config: RedisConfig): Layer.Layer<EventLog.EventLog | RedisStreamMaintenance, EventLogError> =>
  Layer.effectContext(
    Effect.map(makeScoped(config), (r) =>
      Context.make(EventLog.EventLog, r.log).pipe(
        Context.add(RedisStreamMaintenance, { trimAcknowledged: r.trimAcknowledged })
      )
    )
  )

/**
 * `STREAM_KEY` from the environment (default `agg:events`), checked by `StreamKeys.validate`.
 * @category models
 */
export const streamKeyConfig: Config.Config<string> = Config.schema(
  Schema.String.check(Schema.makeFilter((value: string) => StreamKeys.validate(value))),
  "STREAM_KEY"
).pipe(Config.withDefault("agg:events"))

/**
 * `layer`, retrying at start while Redis is unreachable (see `makeRetrying`): the layer is built once Redis
 * answers; refused credentials or a malformed URL fail it at once, naming REDIS_URL. For consumers (the worker),
 * which have nothing to do without the log.
 * @category layers
 */
export const layerRetrying = (
  config: RedisConfig
): Layer.Layer<EventLog.EventLog | RedisStreamMaintenance, EventLogError> =>
  Layer.effectContext(
    Effect.map(makeRetrying(config), (r) =>
      Context.make(EventLog.EventLog, r.log).pipe(
        Context.add(RedisStreamMaintenance, { trimAcknowledged: r.trimAcknowledged })
      )
    )
  )

/**
 * `layer` for a producer that must answer while Redis is away (the api): the first attempt runs at start, and
 * refused credentials or a malformed URL fail the layer there, naming REDIS_URL; if Redis is merely unreachable
 * the layer is built at once and the attempts go on in the background (`makeRetrying`: each failure logged, with
 * backoff). Until one succeeds every operation fails retryable ("not connected yet" with the first cause), so the
 * api answers 503 and /health reports the stream down. A problem found only by a later attempt (Redis came up
 * with other credentials) is logged as an error and ends the attempts; operations then fail non-retryable with it.
 * @category layers
 */
export const layerInBackground = (
  config: RedisConfig
): Layer.Layer<EventLog.EventLog | RedisStreamMaintenance, EventLogError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      let current: RedisEventLog | undefined
      let failure: EventLogError | undefined
      const first = yield* Effect.result(startAttempt(config, 1))
      if (first._tag === "Success") current = first.success
      else if (!first.failure.retryable) return yield* Effect.fail(first.failure)
      else {
        failure = new EventLog.EventLogError({
          operation: "connect",
          retryable: true,
          message: `Redis (REDIS_URL) is not connected yet: ${first.failure.message}`
        })
        yield* Effect.forkScoped(
          makeRetrying(config, 2).pipe(
            Effect.matchEffect({
              onSuccess: (r) =>
                Effect.andThen(
                  Effect.sync(() => {
                    current = r
                  }),
                  Effect.logInfo("Redis (REDIS_URL) connected")
                ),
              onFailure: (error) =>
                Effect.andThen(
                  Effect.sync(() => {
                    failure = error
                  }),
                  Effect.logError("Redis (REDIS_URL) cannot be used; no more attempts", { cause: error.message })
                )
            })
          )
        )
      }
      const via = <A>(use: (r: RedisEventLog) => Effect.Effect<A, EventLogError>) =>
        Effect.suspend(() => (current === undefined ? Effect.fail(failure!) : use(current)))
      const log = EventLog.EventLog.of({
        append: (events) => via((r) => r.log.append(events)),
        read: (consumer, options) => via((r) => r.log.read(consumer, options)),
        ack: (entries) => via((r) => r.log.ack(entries)),
        heartbeat: (consumer, ttl) => via((r) => r.log.heartbeat(consumer, ttl)),
        reclaim: (consumer, options) => via((r) => r.log.reclaim(consumer, options)),
        deadLetter: (entry, reason) => via((r) => r.log.deadLetter(entry, reason)),
        deadLetters: (query) => via((r) => r.log.deadLetters(query)),
        redrive: (ids) => via((r) => r.log.redrive(ids)),
        discard: (ids) => via((r) => r.log.discard(ids)),
        stats: via((r) => r.log.stats),
        consumers: via((r) => r.log.consumers),
        deliveryFloor: via((r) => r.log.deliveryFloor)
      })
      return Context.make(EventLog.EventLog, log).pipe(
        Context.add(RedisStreamMaintenance, { trimAcknowledged: via((r) => r.trimAcknowledged) })
      )
    })
  )

/**
 * `layer` configured from the environment: `REDIS_URL` (required, kept `Redacted`) and `STREAM_KEY`
 * (`streamKeyConfig`); the group and timeout, when given, from the caller.
 * @category layers
 */
export const layerConfig = (
  options: Omit<RedisConfig, "url" | "streamKey"> = {}
): Layer.Layer<EventLog.EventLog | RedisStreamMaintenance, EventLogError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const url = yield* Config.Redacted("REDIS_URL")
      const streamKey = yield* streamKeyConfig
      return layer({ ...options, url, streamKey })
    })
  )
