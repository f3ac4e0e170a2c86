/**
 * Where the time goes during a drain, measured from outside the processes: CPU seconds per process group (api,
 * workers, postgres, redis, the bench itself) from /proc, the machine's busy/iowait share from /proc/stat, and
 * what PostgreSQL backends of the bench database were waiting on (pg_stat_activity sampled every 100 ms), plus the
 * database's commit/deadlock counters, the cluster's WAL flush counters and WAL written (LSN distance) over the
 * window, and Redis memory in use beside the entries the run's streams held.
 *
 * These answer "which resource is the limit": a group using ~1 core of a 2-core box is CPU-bound, iowait or
 * WAL-sync wait events point at fsync, `Lock` wait events at lock waits.
 *
 * @remarks Linux only. pg_stat_wal and the WAL position are cluster-wide, and Redis used_memory is the whole
 * server's, so other load on the same servers shows up in them; the per-database counters (commits, deadlocks)
 * are isolated by the bench database.
 */
import { readdirSync, readFileSync } from "node:fs"
import { cpus } from "node:os"
import pg from "pg"
import { createClient } from "redis"
import { cpuSeconds } from "./Children.ts"

/** Which processes make up a group: fixed pids, or every process whose command name matches. */
export type GroupSpec = { readonly pids: () => ReadonlyArray<number> } | { readonly comm: string }

/** CPU use over the window, per group, in cores (CPU seconds / wall seconds). */
export interface CpuBreakdown {
  readonly wallSeconds: number
  readonly cores: Readonly<Record<string, number>>
  /** Whole machine: share of all cores busy (user+system+irq+steal) and in iowait, 0..1. */
  readonly machineBusy: number
  readonly machineIowait: number
  /** Cores busy in processes outside every group (other load on a shared machine), ≥ 0. */
  readonly otherCores: number
}

const readMachine = (): { busy: number; iowait: number; total: number } => {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number
  ]
  const busy = user + nice + system + irq + softirq + steal
  return { busy, iowait, total: busy + idle + iowait }
}

const pidsByComm = (comm: string): Array<number> => {
  const pids: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) pids.push(Number(entry))
    } catch {
      // exited while listing
    }
  }
  return pids
}

/**
 * Start sampling CPU per group every `intervalMs`; `stop()` returns the breakdown. A process seen first during
 * the window counts from zero (a new backend); one that exits keeps its last sample.
 */
export const sampleCpu = (groups: Readonly<Record<string, GroupSpec>>, intervalMs = 500) => {
  const first = new Map<number, number>()
  const last = new Map<number, number>()
  const members = new Map<string, Set<number>>()
  let startedBefore = true
  const sample = () => {
    for (const [name, spec] of Object.entries(groups)) {
      const pids = "pids" in spec ? spec.pids() : pidsByComm(spec.comm)
      const set = members.get(name) ?? new Set<number>()
      members.set(name, set)
      for (const pid of pids) {
        const cpu = cpuSeconds(pid)
        if (cpu === undefined) continue
        if (!first.has(pid)) first.set(pid, startedBefore ? cpu : 0)
        last.set(pid, cpu)
        set.add(pid)
      }
    }
  }
  const machine0 = readMachine()
  const t0 = performance.now()
  sample()
  startedBefore = false
  const timer = setInterval(sample, intervalMs)
  return {
    stop: (): CpuBreakdown => {
      clearInterval(timer)
      sample()
      const wallSeconds = (performance.now() - t0) / 1000
      const machine1 = readMachine()
      const total = machine1.total - machine0.total
      const cores: Record<string, number> = {}
      for (const [name, set] of members) {
        let seconds = 0
        for (const pid of set) seconds += (last.get(pid) ?? 0) - (first.get(pid) ?? 0)
        cores[name] = seconds / wallSeconds
      }
      const machineBusy = total > 0 ? (machine1.busy - machine0.busy) / total : 0
      const grouped = Object.values(cores).reduce((a, b) => a + b, 0)
      return {
        wallSeconds,
        cores,
        machineBusy,
        machineIowait: total > 0 ? (machine1.iowait - machine0.iowait) / total : 0,
        otherCores: Math.max(0, machineBusy * cpus().length - grouped)
      }
    }
  }
}

/** What the bench database's backends did over the window. */
export interface PgActivity {
  /** Share of backend samples per "state/wait_event_type:wait_event" (active CPU shows as "active/-"). */
  readonly waits: Readonly<Record<string, number>>
  readonly samples: number
  readonly commits: number
  readonly rollbacks: number
  readonly deadlocks: number
  /** Cluster-wide WAL counters over the window (pg_stat_wal). */
  readonly walSyncs: number
  readonly walBytes: number
  /**
   * WAL written over the measured window, cluster-wide: `pg_wal_lsn_diff` of `pg_current_wal_lsn()` at `pause()`
   * (or `stop()`) and at the start.
   */
  readonly walLsnBytes: number
}

/**
 * The groups of backend samples the reports show, by their "state/wait_event_type:wait_event" key: row-lock waits
 * on another transaction (`Lock:transactionid`) or on a tuple lock queue (`Lock:tuple`), a transaction open while
 * its client works (`idle in transaction`), WAL flushes, and running on CPU (active with no wait event).
 */
export const WAIT_GROUPS = {
  "Lock:transactionid": (key: string) => key.endsWith("/Lock:transactionid"),
  "Lock:tuple": (key: string) => key.endsWith("/Lock:tuple"),
  "idle in transaction": (key: string) => key.startsWith("idle in transaction"),
  "IO:WALSync": (key: string) => key.endsWith("/IO:WALSync"),
  CPU: (key: string) => key === "active/-"
} as const satisfies Record<string, (key: string) => boolean>

/** Share of backend samples (0..1) in one of `WAIT_GROUPS`, or in none of them (`"other"`). */
export const waitShare = (activity: PgActivity, group: keyof typeof WAIT_GROUPS | "other"): number => {
  const matches = (key: string) =>
    group === "other" ? !Object.values(WAIT_GROUPS).some((m) => m(key)) : WAIT_GROUPS[group](key)
  return Object.entries(activity.waits)
    .filter(([key]) => matches(key))
    .reduce((sum, [, share]) => sum + share, 0)
}

interface DbCounters {
  commits: number
  rollbacks: number
  deadlocks: number
  walSyncs: number
  walBytes: number
}

const readCounters = async (client: pg.Client, database: string): Promise<DbCounters> => {
  const db = (
    await client.query<{ c: string; r: string; d: string }>(
      "SELECT xact_commit::text AS c, xact_rollback::text AS r, deadlocks::text AS d FROM pg_stat_database WHERE datname = $1",
      [database]
    )
  ).rows[0]
  const wal = (
    await client.query<{ s: string; b: string }>("SELECT wal_sync::text AS s, wal_bytes::text AS b FROM pg_stat_wal")
  ).rows[0]
  return {
    commits: Number(db?.c ?? 0),
    rollbacks: Number(db?.r ?? 0),
    deadlocks: Number(db?.d ?? 0),
    walSyncs: Number(wal?.s ?? 0),
    walBytes: Number(wal?.b ?? 0)
  }
}

/**
 * Sample pg_stat_activity of `database` every `intervalMs` over a connection to `adminUrl` (a different
 * database, so the sampler's own commits do not count). Counters are read at start and at `stop()`; call `stop()`
 * after the measured processes exited, since backends flush their statistics on exit.
 */
export const samplePg = async (adminUrl: string, database: string, intervalMs = 100) => {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  // each backend reports its own counters lazily; ask for fresh snapshots on every read
  await client.query("SET stats_fetch_consistency = none")
  const before = await readCounters(client, database)
  const lsn0 = (await client.query<{ l: string }>("SELECT pg_current_wal_lsn()::text AS l")).rows[0]?.l ?? "0/0"
  // read once, when the measured window ends: at pause() if called, else at stop()
  let walLsnBytes: Promise<number> | undefined
  const walSince = () =>
    (walLsnBytes ??= client
      .query<{ b: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS b", [lsn0])
      .then((r) => Number(r.rows[0]?.b ?? 0)))
  const waits = new Map<string, number>()
  let samples = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const rows = (
        await client.query<{ k: string; n: string }>(
          `SELECT coalesce(state, '?') || '/' || coalesce(wait_event_type || ':' || wait_event, '-') AS k, count(*)::text AS n
           FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state <> 'idle' GROUP BY 1`,
          [database]
        )
      ).rows
      for (const row of rows) {
        waits.set(row.k, (waits.get(row.k) ?? 0) + Number(row.n))
        samples += Number(row.n)
      }
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  })()
  return {
    /** Stop sampling activity (call when the measured window ends). */
    pause: async (): Promise<void> => {
      running = false
      await loop
      await walSince()
    },
    /** Read the counters' deltas and close. */
    stop: async (): Promise<PgActivity> => {
      running = false
      await loop
      const wal = await walSince()
      // pg_stat_database is updated by backends at most every ~1 s, and on exit
      const after = await readCounters(client, database)
      await client.end()
      const shares: Record<string, number> = {}
      for (const [k, n] of [...waits].sort((a, b) => b[1] - a[1])) shares[k] = samples > 0 ? n / samples : 0
      return {
        waits: shares,
        samples,
        commits: after.commits - before.commits,
        rollbacks: after.rollbacks - before.rollbacks,
        deadlocks: after.deadlocks - before.deadlocks,
        walSyncs: after.walSyncs - before.walSyncs,
        walBytes: after.walBytes - before.walBytes,
        walLsnBytes: wal
      }
    }
  }
}

/** Redis memory over a window, beside the entries the run's streams held. */
export interface RedisMemory {
  /** INFO memory `used_memory` when sampling started. */
  readonly beforeBytes: number
  /** The highest `used_memory` sampled. */
  readonly peakBytes: number
  /** Entries in the run's streams (XLEN summed) in the sample of the peak. */
  readonly entriesAtPeak: number
  /** The most entries the run's streams held in any sample. */
  readonly maxEntries: number
  readonly samples: number
}

const usedMemory = (info: string): number => {
  const match = /^used_memory:(\d+)/m.exec(info)
  if (match === null) throw new Error(`INFO memory without used_memory: ${info.slice(0, 200)}`)
  return Number(match[1])
}

/**
 * Sample Redis `used_memory` and the length of `streams` every `intervalMs` until `stop()`. The workers trim
 * acknowledged entries as they go, so the streams hold the backlog, not every event: memory growth is set against
 * the entries held at the same moment.
 */
export const sampleRedisMemory = async (redisUrl: string, streams: ReadonlyArray<string>, intervalMs = 250) => {
  const client = createClient({ url: redisUrl, RESP: 2 }).on("error", () => undefined)
  await client.connect()
  const read = async (): Promise<{ used: number; entries: number }> => {
    // sent together, so node-redis pipelines them: the lengths belong to the same moment as the memory figure
    const [info, ...lengths] = await Promise.all([client.info("memory"), ...streams.map((s) => client.xLen(s))])
    return { used: usedMemory(info), entries: lengths.reduce((a, b) => a + b, 0) }
  }
  const before = await read()
  let peak = before
  let maxEntries = before.entries
  let samples = 1
  const record = (s: { used: number; entries: number }) => {
    samples += 1
    if (s.used > peak.used) peak = s
    maxEntries = Math.max(maxEntries, s.entries)
  }
  let running = true
  const loop = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, intervalMs))
      if (running) record(await read())
    }
  })()
  // a failed read ends the sampling; stop() reports it (no unhandled rejection before then)
  loop.catch(() => undefined)
  const finish = async (): Promise<RedisMemory> => {
    running = false
    try {
      await loop
      record(await read())
    } catch (cause) {
      throw new Error(
        `sampling Redis memory (INFO memory, XLEN) failed: ${cause instanceof Error ? cause.message : cause}`
      )
    } finally {
      client.destroy()
    }
    return {
      beforeBytes: before.used,
      peakBytes: peak.used,
      entriesAtPeak: peak.entries,
      maxEntries,
      samples
    }
  }
  let stopped: Promise<RedisMemory> | undefined
  return {
    /** Take a last sample and close; called again, answers the same. */
    stop: (): Promise<RedisMemory> => (stopped ??= finish())
  }
}
