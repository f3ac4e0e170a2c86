/**
 * `EventLog` on Redis Streams read by one consumer group, split into partitions by topic. Every key comes from
 * `StreamKeys`; partition `i` is the stream `{S:p<i>}:stream` (the `stream` of its entries) with its counter and
 * dead letters beside it on the same hash tag, so the same code runs on one Redis and on a Redis Cluster, where
 * partitions spread over the masters.
 *
 * - partitions: an event goes to `Partitioning.partitionOf(topic, N)`. N is recorded at `{S}:partitions` by the
 *   first process of a deployment (SET NX); every later one adopts it, and one configured with another count is
 *   refused at start (a topic's partition follows from N, so a second count would split a topic over two streams
 *   and break its order). A deployment made before the count was recorded has one partition.
 * - append: one MULTI { XADD per event ({v, e}, see `Entry`) to its partition, INCRBY each partition's received }:
 *   atomic, one round trip. On a cluster a MULTI cannot span slots: one MULTI per partition, sent together (a
 *   failure can leave some partitions appended; the caller's retry appends duplicates, which the store dedups).
 *   Many small appends (the HTTP hot path sends one request's events each) share one transaction through core's
 *   `GroupCommit`; a caller's events are never split across transactions.
 * - heartbeat and ownership: a `Liveness` mark `{S}:consumer:<name>` (SET PX) and the name in `{S}:consumers`;
 *   then the live names are read back and the consumer's share of the partitions computed with
 *   `Partitioning.share` and remembered. Every consumer computes the same shares from the same list, so replicas
 *   own disjoint partitions without a coordinator; a joining or dying replica changes everyone's share at their
 *   next heartbeat (a dead one once its mark expired). Shares only steer reads: any consumer may commit and ack
 *   anything, so an overlap during a rebalance costs time, never correctness.
 * - read: XREADGROUP ">" over the consumer's share, partition by partition from a rotating start until `count`
 *   entries are in hand (non-blocking), then, when nothing was there, one blocking XREADGROUP over all of them on a
 *   dedicated (duplicated) connection, since a blocking read stalls its connection. On a cluster a command cannot
 *   span slots, so the blocking read watches one partition of the share at a time for at most `CLUSTER_BLOCK_MS`.
 * - ack: XACK of each entry on its own stream (entries of streams outside this log are ignored).
 * - reclaim: per partition of the share, XINFO CONSUMERS and one MGET of the marks; each dead consumer's entries
 *   idle past min-idle (XPENDING IDLE … <consumer>) are claimed with `claim-3.lua`, which re-checks owner and idle
 *   time atomically (so a consumer that came back is never robbed) and returns the entries with their delivery
 *   counts. So after a rebalance the new owner of a partition takes the dead owner's pending entries. An entry
 *   deleted from the stream while pending is recorded by the script as a dead letter and counted, so it stays
 *   counted. A dead consumer with nothing pending in a partition is removed from that partition's group by
 *   `removeConsumer-1.lua`. The consumer's own lost deliveries (`own`) are looked for in every partition.
 * - deadLetter: the `deadLetter-4.lua` script of the entry's partition { XACK; only if it was pending: XADD dlq
 *   {id, reason, deliveries, raw fields}; INCR counter; beyond the cap, XTRIM the oldest and move their count to
 *   `discarded` }, so a double dead-letter (two consumers racing) counts once. The cap applies per partition.
 * - deadLetters: XRANGE of every partition's dead-letter stream after the cursor, merged in (ms, seq, partition)
 *   order. A dead letter's id is its id in its partition's stream, suffixed `-<p>` for partitions after the first
 *   (so one partition keeps plain stream ids; see `Partitioning.deadLetterId`).
 * - redrive: `redrive-3.lua` per partition and page of ids { XADD the raw fields to the partition's stream; XDEL
 *   dlq; DECR counter }, atomic per entry; "all" pages up to each partition's newest dead letter at the start.
 * - discard: `discard-3.lua` { XDEL; move the count from dead-lettered to discarded }; "all" is one DEL each.
 * - stats: per partition one pipeline (GET received, XINFO GROUPS, dead-letter counters, XLEN, newest id), summed;
 *   when Redis reports no lag, at most two XRANGEs with COUNT (see `countLag`): never a read of a whole backlog.
 * - consumers: XINFO CONSUMERS of every partition merged by name, with the live names and their shares.
 * - deliveryFloor: per partition, the group's oldest pending id (XPENDING), else the id after its last-delivered.
 * - `trimAcknowledged`: per partition, XTRIM MINID to the oldest entry some group still needs. Streams are never
 *   capped with MAXLEN: that would drop entries nobody has acknowledged.
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
import { EventLog, GroupCommit, Partitioning } from "@agg/core"
import type { Event } from "@agg/schema"
import { Config, Context, Duration, Effect, Exit, Layer, Redacted, Schedule, Schema, Scope } from "effect"
import { createClient, createCluster } from "redis"
import * as Entry from "./Entry.ts"
import * as Liveness from "./Liveness.ts"
import { startProblem, toEventLogError } from "./RedisError.ts"
import { scripts } from "./Scripts.ts"
import * as StreamKeys from "./StreamKeys.ts"

/**
 * Where Redis is: one server at `url` (`redis://…`), or a Redis Cluster reached through `clusterNodes`
 * (`host:port` of some of its masters; the rest is discovered), with the credentials and scheme of `url` when
 * both are given.
 */
export interface RedisTarget {
  readonly url?: string | Redacted.Redacted<string>
  readonly clusterNodes?: ReadonlyArray<string>
}

/** Settings of the Redis log. */
export interface RedisConfig extends RedisTarget {
  /** `STREAM_KEY`: the deployment's name, from which every key derives (see `StreamKeys`). */
  readonly streamKey: string
  /** Consumer group name; default `<streamKey>:workers`. */
  readonly group?: string
  /**
   * Partitions of the log (1–1024). Unset: the count the deployment recorded, or `defaultPartitions` for a new
   * one. Set: must equal the recorded count, else the log refuses to start.
   */
  readonly partitions?: number | undefined
  /** Time limit of one operation (a blocking read: its block time plus this); default 5 seconds. */
  readonly timeout?: Duration.Input
  /** Most entries each partition's dead-letter stream keeps (the oldest beyond are discarded); default `defaultDeadLetterCap`. */
  readonly deadLetterCap?: number
}

/** The partition count of a new deployment that does not configure one. @category models */
export const defaultPartitions = 16

// Until its first connection, a client does not reconnect by itself: `connect()` then fails with the cause
// (instead of waiting for ever), and the caller decides whether and when to try again. Once connected, a lost
// connection is re-established with node-redis' own backoff (exponential to 2 s, with jitter).
const reconnectStrategy = () => {
  let connected = false
  return {
    ready: () => {
      connected = true
    },
    strategy: (retries: number, cause: Error) =>
      connected ? Math.min(2 ** retries * 50, 2000) + Math.floor(Math.random() * 200) : cause
  }
}

/**
 * A node-redis client as this adapter uses it (RESP2, named, no per-command timer, the log's Lua scripts
 * defined), not yet connected.
 * @category constructors
 */
export const createLogClient = (url: string, name: string) => {
  const reconnect = reconnectStrategy()
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
      socket: { reconnectStrategy: reconnect.strategy }
    })
      .on("ready", reconnect.ready)
      // Errors are reported through the failing commands; the listener only keeps node-redis from throwing.
      .on("error", () => undefined)
  )
}

/** A connected node-redis client as this module creates it. */
export type Client = ReturnType<typeof createLogClient>

/** `host:port` of a cluster node, as `REDIS_CLUSTER_NODES` lists them. */
const NODE = /^[^\s:/]+:[0-9]{1,5}$/

/**
 * The problem with a `REDIS_CLUSTER_NODES` value (`host:port,…`), or `undefined` when it is valid.
 * @category constructors
 */
export const validateClusterNodes = (value: string): string | undefined => {
  const nodes = value.split(",").map((n) => n.trim())
  const bad = nodes.find((n) => !NODE.test(n) || Number(n.slice(n.lastIndexOf(":") + 1)) > 65535)
  return bad === undefined
    ? undefined
    : `must be a comma-separated list of host:port, got ${JSON.stringify(bad.slice(0, 100))}`
}

/** Whether a client made by `createConnection` talks to a cluster. */
const isCluster = (target: RedisTarget): target is RedisTarget & { readonly clusterNodes: ReadonlyArray<string> } =>
  target.clusterNodes !== undefined && target.clusterNodes.length > 0

/**
 * A client for `target` with the settings of `createLogClient`: a plain client for a single Redis, or a Redis
 * Cluster client (which routes each command, MULTI and script by its first key's slot, and follows MOVED
 * replies). The cluster client is typed as the plain one: this adapter only sends commands whose keys stay in
 * one slot, which both clients run alike (checked by the contract suite on a real cluster).
 * @category constructors
 */
export const createConnection = (target: RedisTarget, name: string): Client => {
  const url =
    target.url === undefined ? undefined : Redacted.isRedacted(target.url) ? Redacted.value(target.url) : target.url
  if (!isCluster(target)) {
    if (url === undefined) throw new RangeError("REDIS_URL or REDIS_CLUSTER_NODES must be set")
    return createLogClient(url, name)
  }
  const parsed = url === undefined ? undefined : new URL(url)
  const reconnect = reconnectStrategy()
  const scheme = parsed?.protocol === "rediss:" ? "rediss" : "redis"
  const cluster = createCluster({
    rootNodes: target.clusterNodes.map((node) => ({ url: `${scheme}://${node}` })),
    defaults: {
      name,
      ...(parsed?.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed?.password ? { password: decodeURIComponent(parsed.password) } : {}),
      disableOfflineQueue: true,
      socket: { reconnectStrategy: reconnect.strategy, ...(scheme === "rediss" ? { tls: true as const } : {}) }
    },
    RESP: 2,
    commandOptions: { timeout: 0 },
    scripts
  })
    .on("connect", reconnect.ready)
    .on("error", () => undefined)
  return cluster as unknown as Client
}

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

/** On a cluster, how long one blocking read watches one partition before the next one's turn. */
const CLUSTER_BLOCK_MS = 100

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
  /** The deployment's partition count (recorded at `keys.partitionCount`). */
  readonly partitions: number
}

type EventLogError = EventLog.EventLogError

/** The id right after `id` (entries < it are all delivered when `id` is the last-delivered id). */
const nextId = (id: string): string => {
  const [ms = "0", seq = "0"] = id.split("-")
  return `${ms}-${BigInt(seq) + 1n}`
}

const refused = (operation: string, message: string) =>
  new EventLog.EventLogError({ operation, retryable: false, message })

/** Options of `make`. */
export interface MakeOptions {
  readonly timeout?: Duration.Input
  readonly deadLetterCap?: number
  /** See `RedisConfig.partitions`. */
  readonly partitions?: number | undefined
  /** The clients talk to a Redis Cluster (no command may span slots). */
  readonly cluster?: boolean
}

/**
 * The log on open clients: `client` for ordinary commands, `blocking` (a duplicate) for blocking XREADGROUPs,
 * both made by `createConnection`. Refuses to start beside a stream of the earlier key layout or with a partition
 * count other than the deployment's, creates the group (and the streams) where missing. The caller owns the
 * clients; appends accepted before the scope closes are sent first.
 * @category constructors
 */
export const make = (
  client: Client,
  blocking: Client,
  keys: StreamKeys.StreamKeys,
  options: MakeOptions = {}
): Effect.Effect<RedisEventLog, EventLogError, Scope.Scope> =>
  Effect.gen(function* () {
    const limit = Duration.fromInputUnsafe(options.timeout ?? "5 seconds")
    const deadLetterCap = Math.max(1, options.deadLetterCap ?? EventLog.defaultDeadLetterCap)
    const cluster = options.cluster ?? false
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

    const legacy = keys.legacy
    if ((yield* run("start", () => client.type(legacy.stream))) === "stream") {
      return yield* refused(
        "start",
        `STREAM_KEY ${JSON.stringify(keys.streamKey)}: the Redis key ${JSON.stringify(legacy.stream)} holds a stream ` +
          `of an earlier version's key layout (this version uses ${keys.partition(0).stream} and keys beside it), ` +
          "whose entries would never be read. Drain that deployment with the previous version and delete its keys " +
          `(${[legacy.stream, legacy.received, legacy.deadLetter, legacy.deadLettered].join(", ")}), ` +
          "or choose another STREAM_KEY."
      )
    }

    const count = yield* recordedPartitions(client, keys, options.partitions, run)
    const parts = Array.from({ length: count }, (_, i) => keys.partition(i))
    const all = parts.map((p) => p.index)
    const byStream = new Map(parts.map((p) => [p.stream, p]))

    yield* run("createGroup", () =>
      Promise.all(
        parts.map((p) =>
          client.xGroupCreate(p.stream, keys.group, "0", { MKSTREAM: true }).then(
            () => undefined,
            (cause: unknown) => {
              if (cause instanceof Error && cause.message.startsWith("BUSYGROUP")) return undefined
              throw cause
            }
          )
        )
      )
    )

    const partitionOf = (event: Event) =>
      count === 1 ? parts[0]! : parts[Partitioning.partitionOf(event.topic, count)]!
    const appendTo = (
      multi: ReturnType<Client["multi"]>,
      partition: StreamKeys.PartitionKeys,
      events: ReadonlyArray<Event>
    ) => {
      for (const event of events) multi.xAdd(partition.stream, "*", Entry.encode(event))
      multi.incrBy(partition.received, events.length)
    }
    // One transaction for the events of all the callers grouped by `GroupCommit` (one per partition on a cluster).
    const appendAll = (events: ReadonlyArray<Event>) =>
      run("append", () => {
        const groups = new Map<StreamKeys.PartitionKeys, Array<Event>>()
        for (const event of events) {
          const partition = partitionOf(event)
          const group = groups.get(partition)
          if (group === undefined) groups.set(partition, [event])
          else group.push(event)
        }
        const transactions = cluster ? [...groups].map((group) => [group]) : [[...groups]]
        return Promise.all(
          transactions.map((members) => {
            const multi = client.multi()
            for (const [partition, group] of members) appendTo(multi, partition, group)
            return multi.exec()
          })
        )
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

    const liveness = Liveness.make(client, keys.consumer, keys.consumers)
    // Each consumer's share as of its last heartbeat; a consumer that never beat reads every partition.
    const shares = new Map<string, ReadonlyArray<number>>()
    const shareOf = (consumer: string) => shares.get(consumer) ?? all
    const heartbeat = (consumer: string, ttl: Duration.Duration) =>
      run("heartbeat", async () => {
        await liveness.beat(consumer, ttl)
        if (count > 1) shares.set(consumer, Partitioning.share(consumer, await liveness.live(), count))
      })

    const xRead = async (
      via: Client,
      consumer: string,
      streams: ReadonlyArray<string>,
      count: number,
      blockMs: number
    ): Promise<Array<EventLog.LogEntry>> => {
      const reply = (await via.xReadGroup(
        keys.group,
        consumer,
        streams.map((key) => ({ key, id: ">" })),
        blockMs > 0 ? { COUNT: count, BLOCK: Math.ceil(blockMs) } : { COUNT: count }
      )) as XReadGroupReply
      const out: Array<EventLog.LogEntry> = []
      for (const stream of reply ?? [])
        for (const m of stream.messages) out.push(Entry.decode(stream.name, m.id, m.message, 1))
      return out
    }
    // Where each consumer's next read starts in its share, so no partition is always read last.
    const rotation = new Map<string, number>()
    const read = (consumer: string, options: { readonly count: number; readonly block: Duration.Duration }) => {
      const blockMs = Duration.toMillis(options.block)
      const share = shareOf(consumer)
      if (share.length === 0) return Effect.as(Effect.sleep(options.block), [])
      return run(
        "read",
        async () => {
          if (share.length === 1) return xRead(blocking, consumer, [parts[share[0]!]!.stream], options.count, blockMs)
          const start = (rotation.get(consumer) ?? 0) % share.length
          rotation.set(consumer, start + 1)
          const streams = share.map((_, k) => parts[share[(start + k) % share.length]!]!.stream)
          // Non-blocking reads of `from`, one stream after the other, until `count` entries are in hand.
          const fill = async (out: Array<EventLog.LogEntry>, from: ReadonlyArray<string>) => {
            for (const stream of from) {
              if (out.length >= options.count) break
              out.push(...(await xRead(client, consumer, [stream], options.count - out.length, 0)))
            }
            return out
          }
          const out = await fill([], streams)
          if (out.length > 0 || blockMs <= 0) return out
          // Nothing waiting: block on the share (on a cluster, one partition of it at a time). COUNT applies per
          // stream, so each gets an equal part and the reply stays within `count`; a stream that filled its part
          // has more waiting, so the batch is topped up from those before it goes, as a non-blocking read would.
          const watched = cluster ? streams.slice(0, 1) : streams.slice(0, options.count)
          const part = Math.floor(options.count / watched.length)
          const woke = await xRead(
            blocking,
            consumer,
            watched,
            part,
            cluster ? Math.min(blockMs, CLUSTER_BLOCK_MS) : blockMs
          )
          const perStream = new Map<string, number>()
          for (const entry of woke) perStream.set(entry.stream, (perStream.get(entry.stream) ?? 0) + 1)
          return fill(
            woke,
            watched.filter((stream) => (perStream.get(stream) ?? 0) >= part)
          )
        },
        options.block
      )
    }

    const ack = (refs: ReadonlyArray<EventLog.EntryRef>) => {
      const ids = new Map<string, Array<string>>()
      for (const ref of refs) {
        if (!byStream.has(ref.stream)) continue
        const list = ids.get(ref.stream)
        if (list === undefined) ids.set(ref.stream, [ref.id])
        else list.push(ref.id)
      }
      return ids.size === 0
        ? Effect.void
        : run("ack", () => Promise.all([...ids].map(([stream, list]) => client.xAck(stream, keys.group, list)))).pipe(
            Effect.asVoid
          )
    }

    const reclaim = (consumer: string, options: EventLog.ReclaimOptions) =>
      run("reclaim", async () => {
        const minIdle = Math.floor(Duration.toMillis(options.minIdle))
        const claimed: Array<EventLog.LogEntry> = []
        const claimInto = async (p: StreamKeys.PartitionKeys, from: string, idle: number, ids: Array<string>) => {
          for (const [id, fields, deliveries] of await client.claim(p, keys.group, consumer, from, idle, ids))
            claimed.push(Entry.decode(p.stream, id, toRecord(fields), Number(deliveries)))
        }
        // Its own lost deliveries (pending for it, idle, not in hand), claimed back to itself, in every partition.
        if (options.own !== undefined) {
          const ownIdle = Math.floor(Duration.toMillis(options.own.minIdle))
          const held = options.own.held
          const pages = await Promise.all(
            parts.map((p) =>
              client.xPendingRange(p.stream, keys.group, "-", "+", Math.min(options.count, CLAIM_PAGE), {
                IDLE: ownIdle,
                consumer
              })
            )
          )
          for (const [i, page] of pages.entries()) {
            const p = parts[i]!
            const lost = page.map((e) => e.id).filter((id) => !held.has(EventLog.refKey({ stream: p.stream, id })))
            if (lost.length > 0) await claimInto(p, consumer, ownIdle, lost)
          }
        }
        // Dead consumers' entries, in the partitions this consumer owns.
        const mine = shareOf(consumer).map((i) => parts[i]!)
        const members = await Promise.all(
          mine.map(
            (p) =>
              client.xInfoConsumers(p.stream, keys.group) as unknown as Promise<
                Array<{ readonly name: string; readonly pending: number }>
              >
          )
        )
        const others = [...new Set(members.flat().map((m) => m.name))].filter((name) => name !== consumer)
        const alive = await liveness.alive(others)
        for (const [i, p] of mine.entries()) {
          for (const member of members[i]!) {
            if (member.name === consumer || alive.has(member.name)) continue
            if (member.pending === 0) {
              await client.removeConsumer(p, keys.group, member.name)
              continue
            }
            // Page through this consumer's idle entries; each claim takes them off its list, so the next page is new.
            while (claimed.length < options.count) {
              const want = Math.min(options.count - claimed.length, CLAIM_PAGE)
              const page = await client.xPendingRange(p.stream, keys.group, "-", "+", want, {
                IDLE: minIdle,
                consumer: member.name
              })
              if (page.length === 0) break
              const before = claimed.length
              await claimInto(
                p,
                member.name,
                minIdle,
                page.map((e) => e.id)
              )
              if (page.length < want || claimed.length === before) break
            }
            if (claimed.length >= options.count) return claimed
          }
        }
        return claimed
      })

    const deadLetter = (entry: EventLog.LogEntry, reason: string) => {
      const partition = byStream.get(entry.stream)
      return partition === undefined
        ? Effect.fail(refused("deadLetter", `entry ${entry.id} is of stream ${entry.stream}, not of this log`))
        : run("deadLetter", () =>
            client.deadLetter(partition, keys.group, entry.id, reason, entry.deliveries, deadLetterCap)
          ).pipe(Effect.asVoid)
    }

    const deadLetterId = (p: StreamKeys.PartitionKeys, id: string) => Partitioning.deadLetterId(p.index, id)
    // The partition and stream id a dead letter's id names, or undefined when it names none of this log.
    const parseDeadLetterId = (id: string) => {
      const address = Partitioning.parseDeadLetterId(id)
      return address === undefined || address.partition >= count
        ? undefined
        : { partition: parts[address.partition]!, id: address.id }
    }

    const toDeadLetter = (p: StreamKeys.PartitionKeys, id: string, fields: Record<string, string>) => {
      const raw: Record<string, string> = {}
      for (const [name, value] of Object.entries(fields)) if (name.startsWith("raw.")) raw[name.slice(4)] = value
      const entryId = fields["id"] ?? ""
      const deliveries = Number(fields["deliveries"] ?? 0)
      const decoded = Entry.decode(p.stream, entryId, raw, deliveries)
      const base64 = (value: string) => Buffer.from(value, "utf8").toString("base64")
      return {
        id: deadLetterId(p, id),
        entry: { stream: p.stream, id: entryId },
        reason: fields["reason"] ?? "",
        deliveries: Number.isSafeInteger(deliveries) ? deliveries : 0,
        deadLetteredAt: new Date(Number(id.slice(0, id.indexOf("-")))).toISOString(),
        content:
          Object.keys(raw).length === 0
            ? { _tag: "Lost" }
            : decoded._tag === "Event"
              ? { _tag: "Event", event: decoded.event }
              : { _tag: "Undecodable", raw: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, base64(v)])) }
      } satisfies EventLog.DeadLetterEntry
    }

    // A page merged over the partitions in (ms, seq, partition) order: after the cursor's position, a partition
    // up to the cursor's starts after its stream id, one after it at the stream id itself.
    const deadLetters = (query: { readonly after?: string; readonly limit: number }) => {
      const at = query.after === undefined ? undefined : Partitioning.parseDeadLetterId(query.after)
      if (query.after !== undefined && at === undefined)
        return Effect.fail(
          refused("deadLetters", `after must be a dead-letter id <ms>-<seq>[-<p>], got ${query.after.slice(0, 50)}`)
        )
      const limit = Math.max(1, query.limit)
      return run("deadLetters", async () => {
        const pages = await Promise.all(
          parts.map(async (p) => {
            const start = at === undefined ? "-" : p.index <= at.partition ? `(${at.id}` : at.id
            const page = (await client.xRange(p.deadLetter, start, "+", { COUNT: limit })) ?? []
            return page.map((m) => ({ p, id: m.id, fields: m.message as Record<string, string> }))
          })
        )
        const entries = pages
          .flat()
          .map((m) => toDeadLetter(m.p, m.id, m.fields))
          .sort((a, b) => Partitioning.compareDeadLetterIds(a.id, b.id))
          .slice(0, limit)
        return { entries, nextAfter: entries.at(-1)?.id ?? query.after ?? "0-0" }
      })
    }

    // Given dead-letter ids, grouped by partition and a page at a time; outcomes in the order given. An id that
    // names no dead letter of this log is missing.
    const byPartition = async (
      ids: ReadonlyArray<string>,
      page: (p: StreamKeys.PartitionKeys, ids: ReadonlyArray<string>) => Promise<EventLog.DeadLetterOutcome>
    ): Promise<EventLog.DeadLetterOutcome> => {
      const missing = new Set<string>()
      const skipped = new Set<string>()
      const groups = new Map<StreamKeys.PartitionKeys, Array<string>>()
      for (const id of ids) {
        const named = parseDeadLetterId(id)
        if (named === undefined) missing.add(id)
        else {
          const group = groups.get(named.partition)
          if (group === undefined) groups.set(named.partition, [named.id])
          else group.push(named.id)
        }
      }
      let moved = 0
      for (const [p, streamIds] of groups) {
        for (let i = 0; i < streamIds.length; i += DEAD_LETTER_PAGE) {
          const result = await page(p, streamIds.slice(i, i + DEAD_LETTER_PAGE))
          moved += result.count
          for (const id of result.missing) missing.add(deadLetterId(p, id))
          for (const id of result.skipped) skipped.add(deadLetterId(p, id))
        }
      }
      return {
        count: moved,
        missing: ids.filter((id) => missing.has(id)),
        skipped: ids.filter((id) => skipped.has(id))
      }
    }

    const redrivePage = async (p: StreamKeys.PartitionKeys, ids: ReadonlyArray<string>) => {
      const [moved, missing, skipped] = await client.redrive(p, ids)
      return { count: moved, missing: [...missing], skipped: [...skipped] }
    }

    const redrive = (ids: ReadonlyArray<string> | "all") =>
      run("redrive", async () => {
        if (ids !== "all") return byPartition(ids, redrivePage)
        const out = { count: 0, missing: [] as Array<string>, skipped: [] as Array<string> }
        for (const p of parts) {
          // Up to the newest dead letter now: an entry that fails again comes back with a later id and stays.
          const newest = ((await client.xRevRange(p.deadLetter, "+", "-", { COUNT: 1 })) ?? [])[0]?.id
          if (newest === undefined) continue
          let after = "-"
          while (true) {
            const page = (await client.xRange(p.deadLetter, after, newest, { COUNT: DEAD_LETTER_PAGE })) ?? []
            if (page.length === 0) break
            const result = await redrivePage(
              p,
              page.map((m) => m.id)
            )
            out.count += result.count
            // missing: discarded or redriven by someone else meanwhile
            out.skipped.push(...result.skipped.map((id) => deadLetterId(p, id)))
            after = `(${page.at(-1)!.id}`
            if (page.length < DEAD_LETTER_PAGE) break
          }
        }
        return out
      })

    const discard = (ids: ReadonlyArray<string> | "all") =>
      run("discard", async () => {
        if (ids === "all") {
          const counts = await Promise.all(parts.map((p) => client.discard(p, "all")))
          return { count: counts.reduce((sum, [n]) => sum + n, 0), missing: [], skipped: [] }
        }
        return byPartition(ids, async (p, page) => {
          const [moved, missing] = await client.discard(p, page)
          return { count: moved, missing, skipped: [] }
        })
      })

    // Redis reports no lag while an entry after the group's cursor was deleted (until the group reads past it).
    // Counted then from whichever side of the cursor is short, each read capped at LAG_COUNT_LIMIT entries: the
    // undelivered entries, or the delivered ones still in the stream (the pending ones and those acknowledged but
    // not yet trimmed), subtracted from its length. Only when both sides are longer is the figure Redis' own
    // estimate, entries added minus entries read, which also counts the deleted entries ahead of the cursor.
    const countLag = async (
      p: StreamKeys.PartitionKeys,
      group: { readonly "last-delivered-id": string; readonly "entries-read"?: number | null }
    ) => {
      const last = group["last-delivered-id"]
      const ahead = (await client.xRange(p.stream, `(${last}`, "+", { COUNT: LAG_COUNT_LIMIT + 1 })) ?? []
      if (ahead.length <= LAG_COUNT_LIMIT) return ahead.length
      const [behind, info] = (await client
        .multi()
        .xRange(p.stream, "-", last, { COUNT: LAG_COUNT_LIMIT + 1 })
        .xInfoStream(p.stream)
        .execAsPipeline()) as unknown as [ReadonlyArray<unknown>, { readonly length: number; "entries-added"?: number }]
      if (behind.length <= LAG_COUNT_LIMIT) return info.length - behind.length
      const read = group["entries-read"]
      const added = info["entries-added"]
      return typeof read === "number" && typeof added === "number" ? Math.max(0, added - read) : info.length
    }

    const groupOf = <G extends { readonly name: string }>(groups: ReadonlyArray<G>, p: StreamKeys.PartitionKeys) => {
      const group = groups.find((g) => g.name === keys.group)
      if (group === undefined) throw new Error(`consumer group ${keys.group} does not exist on ${p.stream}`)
      return group
    }

    const partitionStats = async (p: StreamKeys.PartitionKeys): Promise<EventLog.LogStats> => {
      const [received, groups, dead, discarded, length, newest] = (await client
        .multi()
        .get(p.received)
        .xInfoGroups(p.stream)
        .get(p.deadLettered)
        .get(p.discarded)
        .xLen(p.stream)
        .xRevRange(p.stream, "+", "-", { COUNT: 1 })
        .execAsPipeline()) as unknown as [
        string | null,
        Array<{ name: string; pending: number; lag: number | null; "last-delivered-id": string }>,
        string | null,
        string | null,
        number,
        Array<{ readonly id: string }>
      ]
      const group = groupOf(groups, p)
      // Redis's own figure can overshoot when its entries-read counter drifts (seen in the chaos run after Redis
      // restarts under load: lag 166,000 on an empty, fully delivered stream). Two exact bounds: nothing waits once
      // the newest entry was delivered, and every undelivered entry is still in the stream (trimming stops at the
      // oldest one a group needs), so the stream's length bounds the lag.
      const newestId = newest[0]?.id
      const lag =
        newestId === undefined || !EventLog.isBelow(group["last-delivered-id"], newestId)
          ? 0
          : Math.min(group.lag ?? (await countLag(p, group)), length)
      return {
        received: Number(received ?? 0),
        lag,
        pending: group.pending,
        deadLettered: Number(dead ?? 0),
        discarded: Number(discarded ?? 0)
      }
    }

    const stats = run("stats", async () => {
      const each = await Promise.all(parts.map(partitionStats))
      return each.reduce((sum, s) => ({
        received: sum.received + s.received,
        lag: sum.lag + s.lag,
        pending: sum.pending + s.pending,
        deadLettered: sum.deadLettered + s.deadLettered,
        discarded: sum.discarded + s.discarded
      }))
    })

    // Read-only: XINFO CONSUMERS of every partition, the live names and their marks, and nothing else.
    const consumers = run("consumers", async () => {
      const lists = (await Promise.all(
        parts.map((p) => client.xInfoConsumers(p.stream, keys.group))
      )) as unknown as Array<Array<{ readonly name: string; readonly pending: number; readonly idle: number }>>
      const merged = new Map<string, { pending: number; idleMs: number }>()
      for (const m of lists.flat()) {
        const seen = merged.get(m.name)
        if (seen === undefined) merged.set(m.name, { pending: m.pending, idleMs: m.idle })
        else merged.set(m.name, { pending: seen.pending + m.pending, idleMs: Math.min(seen.idleMs, m.idle) })
      }
      const registered = await client.sMembers(keys.consumers)
      for (const name of registered) if (!merged.has(name)) merged.set(name, { pending: 0, idleMs: 0 })
      const alive = await liveness.alive([...merged.keys()])
      const live = [...alive].sort()
      return [...merged]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, m]) => ({
          name,
          pending: m.pending,
          idleMs: m.idleMs,
          alive: alive.has(name),
          partitions: alive.has(name) ? Partitioning.share(name, live, count) : []
        }))
    })

    // This log's group only: other groups on the stream are other services' business.
    const deliveryFloor = run("deliveryFloor", async () => {
      const floors = await Promise.all(
        parts.map(async (p) => {
          const [groups, pending] = (await client
            .multi()
            .xInfoGroups(p.stream)
            .xPending(p.stream, keys.group)
            .execAsPipeline()) as unknown as [
            Array<{ name: string; "last-delivered-id": string }>,
            { readonly firstId: string | null }
          ]
          const last = groupOf(groups, p)["last-delivered-id"]
          if (pending.firstId === null && last === "0-0") return []
          return [{ stream: p.stream, id: pending.firstId ?? nextId(last) }]
        })
      )
      return floors.flat()
    })

    const trimPartition = async (p: StreamKeys.PartitionKeys) => {
      const groups = await client.xInfoGroups(p.stream)
      if (groups.length === 0) return 0
      const needed: Array<string> = []
      for (const g of groups) {
        const pending = await client.xPending(p.stream, String(g.name))
        // Entries up to last-delivered-id were delivered; the oldest still pending is the first one needed.
        needed.push(pending.firstId ?? nextId(String(g["last-delivered-id"])))
      }
      const minId = needed.reduce((a, b) => (EventLog.isBelow(b, a) ? b : a))
      return client.xTrim(p.stream, "MINID", minId)
    }
    const trimAcknowledged = run("trimAcknowledged", async () =>
      (await Promise.all(parts.map(trimPartition))).reduce((a, b) => a + b, 0)
    )

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
      keys,
      partitions: count
    }
  })

/**
 * The deployment's partition count: the one recorded at `keys.partitionCount`, recorded first (SET NX, so two
 * processes starting at once agree) when missing: `configured`, else `defaultPartitions`, except that a deployment
 * whose first partition already holds a stream was made before counts were recorded and has one. Fails naming
 * PARTITIONS when `configured` differs from the recorded count.
 */
const recordedPartitions = (
  client: Client,
  keys: StreamKeys.StreamKeys,
  configured: number | undefined,
  run: <A>(operation: string, f: () => Promise<A>) => Effect.Effect<A, EventLogError>
) =>
  Effect.gen(function* () {
    if (configured !== undefined) {
      const problem = Partitioning.validatePartitions(configured)
      if (problem !== undefined) return yield* refused("start", `PARTITIONS ${problem}`)
    }
    const recorded = yield* run("start", async () => {
      const before = await client.get(keys.partitionCount)
      if (before !== null) return before
      const older = (await client.exists(keys.partition(0).stream)) > 0
      const first = older ? 1 : (configured ?? defaultPartitions)
      await client.set(keys.partitionCount, String(first), { condition: "NX" })
      return (await client.get(keys.partitionCount)) ?? String(first)
    })
    const count = Number(recorded)
    if (!/^[0-9]+$/.test(recorded) || Partitioning.validatePartitions(count) !== undefined)
      return yield* refused(
        "start",
        `STREAM_KEY ${JSON.stringify(keys.streamKey)}: ${keys.partitionCount} holds ${JSON.stringify(recorded.slice(0, 50))}, not a partition count`
      )
    if (configured !== undefined && configured !== count)
      return yield* refused(
        "start",
        `PARTITIONS=${configured}, but the deployment STREAM_KEY ${JSON.stringify(keys.streamKey)} was created with ` +
          `${count} partition${count === 1 ? "" : "s"} (recorded at ${keys.partitionCount}). A topic's partition ` +
          "follows from the count, so changing it would split topics over two streams. Run every api and worker " +
          `with PARTITIONS=${count} (or leave it unset to adopt the recorded count), or start a new deployment ` +
          "under another STREAM_KEY."
      )
    return count
  })

/**
 * Connect both clients and open the log on them. On release, appends already accepted are sent, then the
 * blocking client is destroyed (so a pending XREADGROUP breaks) and the other closed.
 * @category constructors
 */
export const makeScoped = (config: RedisConfig) =>
  Effect.gen(function* () {
    const keys = StreamKeys.make(config.streamKey, config.group)
    const client = yield* connectClient(() => createConnection(config, `${keys.streamKey}:log`), "close")
    const blocking = yield* connectClient(() => createConnection(config, `${keys.streamKey}:log:blocking`), "destroy")
    return yield* make(client, blocking, keys, {
      ...(config.timeout === undefined ? {} : { timeout: config.timeout }),
      ...(config.deadLetterCap === undefined ? {} : { deadLetterCap: config.deadLetterCap }),
      partitions: config.partitions,
      cluster: isCluster(config)
    })
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
 * `PARTITIONS` from the environment, checked by `Partitioning.validatePartitions`; `undefined` when unset (adopt
 * the deployment's recorded count, see `RedisConfig.partitions`).
 * @category models
 */
export const partitionsConfig: Config.Config<number | undefined> = Config.schema(
  Schema.NumberFromString.check(Schema.makeFilter((value: number) => Partitioning.validatePartitions(value))),
  "PARTITIONS"
).pipe(
  Config.option,
  Config.map((value) => (value._tag === "Some" ? value.value : undefined))
)

/**
 * `REDIS_CLUSTER_NODES` from the environment (`host:port,…`, checked by `validateClusterNodes`); `undefined` when
 * unset (a single Redis at `REDIS_URL`).
 * @category models
 */
export const clusterNodesConfig: Config.Config<ReadonlyArray<string> | undefined> = Config.schema(
  Schema.String.check(Schema.makeFilter((value: string) => validateClusterNodes(value))),
  "REDIS_CLUSTER_NODES"
).pipe(
  Config.option,
  Config.map((value) => (value._tag === "Some" ? value.value.split(",").map((n) => n.trim()) : undefined))
)

/**
 * `layer` configured from the environment: `REDIS_URL` (kept `Redacted`; required unless `REDIS_CLUSTER_NODES`
 * is set, then it only gives credentials), `REDIS_CLUSTER_NODES`, `STREAM_KEY` (`streamKeyConfig`) and
 * `PARTITIONS` (`partitionsConfig`); the group and timeout, when given, from the caller.
 * @category layers
 */
export const layerConfig = (
  options: Omit<RedisConfig, "url" | "clusterNodes" | "streamKey" | "partitions"> = {}
): Layer.Layer<EventLog.EventLog | RedisStreamMaintenance, EventLogError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const clusterNodes = yield* clusterNodesConfig
      const url =
        clusterNodes === undefined
          ? yield* Config.Redacted("REDIS_URL")
          : yield* Config.Redacted("REDIS_URL").pipe(
              Config.option,
              Config.map((value) => (value._tag === "Some" ? value.value : undefined))
            )
      const streamKey = yield* streamKeyConfig
      const partitions = yield* partitionsConfig
      return layer({
        ...options,
        ...(url === undefined ? {} : { url }),
        ...(clusterNodes === undefined ? {} : { clusterNodes }),
        partitions,
        streamKey
      })
    })
  )
