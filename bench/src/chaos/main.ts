/**
 * `pnpm chaos`: 1,000,000 events (30% duplicates, @agg/publisher's seeded generator) published to the api in queued
 * mode with 3 workers, on private PostgreSQL and Redis servers, while a scripted schedule kills and restarts
 * workers, the api, Redis and PostgreSQL (see `Faults.ts`). Two readers tail GET /events meanwhile (one topic by
 * offset, all topics by position, each passing `next_after` back), checking that nothing is skipped or seen twice.
 * At the end, everything is verified exactly: every accepted event stored once (the all-topics reader saw exactly
 * the generated keys), offsets 1..n per topic, the stats identity with nothing pending or dead-lettered, readers
 * complete. Prints a table of the faults: when, publish retries until the next one, and what happened.
 *
 *   --quick        50,000 events and a compressed schedule (≤ 2 min): the CI step
 *   --events N     events to publish (default 1,000,000; quick 50,000)
 *   --rate N       events/s the publisher aims at (default: spread over the schedule)
 *
 * Exit code 0 when every check and every fault passed, 1 otherwise.
 *
 * @remarks Needs the PostgreSQL and Redis binaries, not running servers: it starts its own. Runs the apps from
 * source (no build). Publisher retries follow Retry-After on 503 and back off on connection errors, forever.
 */
import { parseArgs } from "node:util"
import { generate, keyOf } from "@agg/publisher"
import pg from "pg"
import { killAll } from "../Children.ts"
import { type Fault, faults, type System, startSystem, waitUntil } from "./Faults.ts"

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    quick: { type: "boolean", default: false },
    events: { type: "string" },
    rate: { type: "string" }
  }
})
const quick = values.quick
const total = values.events === undefined ? (quick ? 50_000 : 1_000_000) : Number(values.events)
if (!Number.isInteger(total) || total < 1000)
  throw new Error(`--events must be an integer >= 1000, got ${values.events}`)

const BATCH = 500
const CONCURRENCY = 4
const TOPICS = 8

// The schedule: seconds after publishing starts. Quick compresses it into ~35 s.
const kinds = faults({ downMs: quick ? 1_000 : 3_000 })
const schedule: ReadonlyArray<readonly [number, Fault]> = (
  [
    [8, kinds.killWorker],
    [16, kinds.killWorker],
    [24, kinds.termWorker],
    [32, kinds.killApi],
    [44, kinds.redisShutdown],
    [58, kinds.redisKill],
    [72, kinds.postgresRestart],
    [86, kinds.postgresCrash],
    [100, kinds.killWorker]
  ] as const
).map(([at, fault]) => [quick ? Math.round(at * 0.35 * 10) / 10 : at, fault] as const)
const lastFaultAt = schedule.at(-1)?.[0] ?? 0
// Publishing spans the schedule (and a little more), so every fault hits it mid-run.
const rate = values.rate === undefined ? Math.ceil(total / (lastFaultAt + (quick ? 5 : 20))) : Number(values.rate)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (line: string) => process.stderr.write(`chaos: ${line}\n`)

/** Publisher figures, attempt by attempt. */
interface Publisher {
  accepted: number
  /** Retried attempts (503, other 5xx, connection errors), with the time of each. */
  readonly retries: Array<number>
  /** Events of attempts whose outcome is unknown (connection lost mid-request): they may have been appended. */
  ambiguousEvents: number
  other: Array<string>
  done: boolean
}

/** Publish every batch, `CONCURRENCY` at a time, at about `rate` events/s, retrying until each is accepted. */
const publishAll = async (
  system: System,
  bodies: ReadonlyArray<Buffer>,
  sizes: ReadonlyArray<number>,
  p: Publisher
) => {
  let next = 0
  const started = Date.now()
  const lane = async () => {
    while (next < bodies.length) {
      const i = next++
      // Pace: batch i is due when i * BATCH events at `rate` have had their time.
      const due = started + ((i * BATCH) / rate) * 1000
      if (due > Date.now()) await sleep(due - Date.now())
      for (let attempt = 1; ; attempt++) {
        const answer = await system.api.request("POST", "/publish", bodies[i]).catch((e: Error) => e)
        if (!(answer instanceof Error) && answer.status >= 200 && answer.status < 300) {
          p.accepted += sizes[i]!
          break
        }
        if (!(answer instanceof Error) && answer.status < 500) {
          p.other.push(`${answer.status} ${answer.body.slice(0, 200)}`)
          break
        }
        if (answer instanceof Error) p.ambiguousEvents += sizes[i]!
        p.retries.push(Date.now())
        await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2))
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, lane))
  p.done = true
}

/** A reader tailing GET /events (one topic, or all), checking order as it goes. */
interface Reader {
  readonly name: string
  seen: number
  readonly problems: Array<string>
  readonly keys: Set<string>
}

interface WireEvent {
  readonly topic: string
  readonly event_id: string
  readonly offset: number
  readonly position?: string | number
}

const tail = async (system: System, topic: string | undefined, reader: Reader, stopWhen: () => boolean) => {
  let after: string | number = 0
  let last: bigint | undefined
  while (!stopWhen()) {
    const query =
      topic === undefined ? `after=${after}&limit=1000` : `topic=${encodeURIComponent(topic)}&after=${after}&limit=1000`
    const answer = await system.api.request("GET", `/events?${query}`).catch((e: Error) => e)
    if (answer instanceof Error || answer.status !== 200) {
      await sleep(200) // the api or the store is down: carry on from the same cursor
      continue
    }
    const page = JSON.parse(answer.body) as { events: Array<WireEvent>; next_after: string | number }
    for (const event of page.events) {
      const key = keyOf(event)
      if (reader.keys.has(key)) reader.problems.push(`${key} seen twice`)
      reader.keys.add(key)
      if (topic !== undefined) {
        if (event.offset !== reader.seen + 1) reader.problems.push(`offset ${event.offset} after ${reader.seen}`)
      } else {
        const position = BigInt(event.position ?? -1)
        if (last !== undefined && position <= last) reader.problems.push(`position ${position} after ${last}`)
        last = position
      }
      reader.seen++
    }
    after = page.next_after
    if (page.events.length < 1000) await sleep(100)
  }
}

const pad = (text: string, width: number) => text.padEnd(width)

const main = async () => {
  const runId = `chaos${Date.now().toString(36)}`
  log(`generating ${total.toLocaleString("en")} events (30% duplicates, ${TOPICS} topics)`)
  const { batches, truth } = generate({
    events: total,
    topics: TOPICS,
    duplicateRatio: 0.3,
    batchSize: BATCH,
    seed: 7,
    runId
  })
  const bodies = batches.map((b) => Buffer.from(JSON.stringify(b)))
  const sizes = batches.map((b) => b.length)
  log("starting private PostgreSQL and Redis, the api and 3 workers")
  const system = await startSystem({
    workers: 3,
    workerEnv: {},
    apiEnv: {}
  })
  const failures: Array<string> = []
  const rows: Array<{ at: number; planned: number; fault: string; retries: number; ok: boolean; outcome: string }> = []
  try {
    const publisher: Publisher = { accepted: 0, retries: [], ambiguousEvents: 0, other: [], done: false }
    const firstTopic = [...truth.perTopic.keys()][0]!
    const expectedFirst = truth.perTopic.get(firstTopic)!.length
    const one: Reader = { name: `topic ${firstTopic}`, seen: 0, problems: [], keys: new Set() }
    const all: Reader = { name: "all topics", seen: 0, problems: [], keys: new Set() }
    const started = Date.now()
    log(`publishing at ~${rate.toLocaleString("en")} events/s; ${schedule.length} faults over ${lastFaultAt} s`)
    const publishing = publishAll(system, bodies, sizes, publisher)
    const readers = [
      tail(system, firstTopic, one, () => one.seen >= expectedFirst),
      tail(system, undefined, all, () => all.seen >= truth.unique)
    ]

    for (const [planned, fault] of schedule) {
      const due = started + planned * 1000
      if (due > Date.now()) await sleep(due - Date.now())
      const at = (Date.now() - started) / 1000
      log(`${at.toFixed(1)} s: ${fault.name}`)
      const result = await fault.run(system).catch((e: Error) => ({ ok: false, outcome: `failed: ${e.message}` }))
      rows.push({ at, planned, fault: fault.name, retries: 0, ok: result.ok, outcome: result.outcome })
      if (!result.ok) failures.push(`${fault.name} at ${at.toFixed(1)} s: ${result.outcome}`)
    }
    await publishing
    const publishedAfter = (Date.now() - started) / 1000
    // Retries between one fault and the next (the last: until the publisher finished).
    for (const [i, row] of rows.entries()) {
      const from = started + row.at * 1000
      const to = i + 1 < rows.length ? started + rows[i + 1]!.at * 1000 : Number.POSITIVE_INFINITY
      row.retries = publisher.retries.filter((t) => t >= from && t < to).length
    }
    const before = publisher.retries.filter((t) => t < started + (rows[0]?.at ?? 0) * 1000).length

    log(`published in ${publishedAfter.toFixed(1)} s; waiting for the drain and the readers`)
    // Drained: nothing pending, and the store's totals (read again at most every second by the api) caught up.
    const drained = await waitUntil(async () => {
      const s = (await system.api.stats()) as Awaited<ReturnType<System["api"]["stats"]>> & {
        readonly dead_lettered?: number
        readonly discarded?: number
      }
      const settled = s.unique_processed + s.duplicate_dropped + (s.dead_lettered ?? 0) + (s.discarded ?? 0)
      return s.pending === 0 && s.received >= publisher.accepted && settled === s.received
    }, 600_000)
    if (!drained) failures.push("not drained within 10 minutes")
    const readersDone = await Promise.race([Promise.all(readers).then(() => true), sleep(300_000).then(() => false)])
    if (!readersDone)
      failures.push(`readers incomplete: ${one.name} ${one.seen}/${expectedFirst}, all ${all.seen}/${truth.unique}`)
    const elapsed = (Date.now() - started) / 1000

    // Exact verification.
    const stats = (await system.api.stats()) as Awaited<ReturnType<System["api"]["stats"]>> & {
      readonly dead_lettered?: number
      readonly discarded?: number
    }
    const check = (ok: boolean, what: string) => {
      if (!ok) failures.push(what)
      return ok
    }
    check(publisher.accepted === total, `accepted ${publisher.accepted} of ${total}`)
    check(publisher.other.length === 0, `unexpected answers: ${publisher.other.slice(0, 3).join("; ")}`)
    check(
      stats.unique_processed === truth.unique,
      `unique_processed ${stats.unique_processed}, expected ${truth.unique}`
    )
    check(
      stats.received >= total && stats.received <= total + publisher.ambiguousEvents,
      `received ${stats.received} outside [${total}, ${total + publisher.ambiguousEvents}]`
    )
    const dead = stats.dead_lettered ?? 0
    const discarded = stats.discarded ?? 0
    check(
      stats.received === stats.unique_processed + stats.duplicate_dropped + stats.pending + dead + discarded,
      "stats identity"
    )
    check(
      stats.pending === 0 && dead === 0 && discarded === 0,
      `pending ${stats.pending}, dead-lettered ${dead}, discarded ${discarded}`
    )
    const db = new pg.Client({ connectionString: system.databaseUrl })
    await db.connect()
    const perTopic = await db.query<{ topic: string; n: number; lo: number; hi: number; d: number }>(
      `select topic, count(*)::int as n, min("offset")::int as lo, max("offset")::int as hi,
              count(distinct "offset")::int as d from events group by topic`
    )
    await db.end()
    for (const [topic, ids] of truth.perTopic) {
      const row = perTopic.rows.find((r) => r.topic === topic)
      check(
        row !== undefined && row.n === ids.length && row.lo === 1 && row.hi === ids.length && row.d === ids.length,
        `${topic}: offsets not exactly 1..${ids.length} (${JSON.stringify(row)})`
      )
    }
    check(
      perTopic.rows.length === truth.perTopic.size,
      `${perTopic.rows.length} topics stored, ${truth.perTopic.size} expected`
    )
    for (const reader of [one, all])
      check(reader.problems.length === 0, `${reader.name}: ${reader.problems.slice(0, 3).join("; ")}`)
    check(one.seen === expectedFirst, `${one.name} saw ${one.seen} of ${expectedFirst}`)
    check(
      all.seen === truth.unique && [...truth.byKey.keys()].every((k) => all.keys.has(k)),
      `all-topics reader saw ${all.seen} of ${truth.unique} (or other keys)`
    )

    // The report.
    const widths = [3, 8, 36, 9, 7]
    const line = (cells: ReadonlyArray<string>) =>
      `| ${cells.map((c, i) => (i < widths.length ? pad(c, widths[i]!) : c)).join(" | ")} |`
    const out = [
      "",
      `chaos${quick ? " --quick" : ""}: ${total.toLocaleString("en")} events (${truth.unique.toLocaleString("en")} unique, ${truth.duplicates.toLocaleString("en")} duplicates), 3 workers, ${elapsed.toFixed(1)} s`,
      "",
      line(["#", "at (s)", "fault", "retries", "ok", "outcome"]),
      line(["--", "--", "--", "--", "--", "--"]),
      ...rows.map((r, i) =>
        line([String(i + 1), r.at.toFixed(1), r.fault, String(r.retries), r.ok ? "✓" : "✗", r.outcome])
      ),
      "",
      `publisher: ${publisher.accepted.toLocaleString("en")} accepted in ${publishedAfter.toFixed(1)} s, ${publisher.retries.length} retries (${before} before the first fault), ${publisher.ambiguousEvents} events in attempts of unknown outcome`,
      `stats: received ${stats.received}, unique ${stats.unique_processed}, duplicates ${stats.duplicate_dropped}, pending ${stats.pending}, dead-lettered ${dead}, discarded ${discarded}`,
      `readers: ${one.name} ${one.seen}/${expectedFirst}, all topics ${all.seen}/${truth.unique}, problems ${one.problems.length + all.problems.length}`,
      failures.length === 0
        ? "verified: every accepted event stored once, offsets 1..n, stats exact, readers complete"
        : `FAILED:\n  ${failures.join("\n  ")}`
    ]
    console.log(out.join("\n"))
  } finally {
    await system.teardown().catch((e: Error) => log(`teardown: ${e.message}`))
  }
  return failures.length === 0 ? 0 : 1
}

// Ctrl-C or a stop: kill the apps; exiting runs the private servers' exit hooks (killed, directories removed).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll()
    process.exit(130)
  })
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    killAll()
    console.error(`chaos: ${error.stack ?? error.message}`)
    process.exit(1)
  }
)
