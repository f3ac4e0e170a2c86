/**
 * Isolation of one benchmark step on shared servers: its own PostgreSQL database (`agg_bench_<run>_<label>`,
 * dropped WITH (FORCE) afterwards) and its own Redis key prefix used as STREAM_KEY (`agg:bench:<run>:<label>`,
 * every key under it unlinked afterwards). Two bench runs, or a bench run beside the test suite, never share state.
 *
 * @remarks Creates empty databases: the api/worker migrate them themselves, the baselines create their own tables.
 * Never touches a database or key it did not create.
 */
import pg from "pg"
import { createClient } from "redis"

/** Server URLs of a run; the database part of `postgresUrl` is only used for CREATE/DROP DATABASE. */
export interface Servers {
  readonly postgresUrl: string
  readonly redisUrl: string
}

export const defaultServers = (): Servers => ({
  postgresUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
})

/** A database of one step. */
export interface BenchDatabase {
  readonly name: string
  readonly url: string
  readonly drop: () => Promise<void>
}

const withDatabase = (serverUrl: string, name: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Run `f` with a short-lived client on `url`. */
export const withClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

const LABEL = /^[a-z0-9_]+$/

// What this process created and has not cleaned up yet, for `cleanupAll` after an interrupt.
const pending = new Set<() => Promise<unknown>>()

/** Drop every database and delete every stream key this process created and has not cleaned up yet. */
export const cleanupAll = async (): Promise<void> => {
  for (const cleanup of [...pending]) await cleanup().catch(() => undefined)
}

/** `CREATE DATABASE agg_bench_<runId>_<label>`; `label` and `runId` are [a-z0-9_] so quoting is safe. */
export const createDatabase = async (servers: Servers, runId: string, label: string): Promise<BenchDatabase> => {
  if (!LABEL.test(runId) || !LABEL.test(label)) throw new Error(`bad database label: ${runId}_${label}`)
  const name = `agg_bench_${runId}_${label}`
  await withClient(servers.postgresUrl, (c) => c.query(`CREATE DATABASE "${name}"`))
  let dropped = false
  const drop = async (): Promise<void> => {
    if (dropped) return
    dropped = true
    pending.delete(drop)
    await withClient(servers.postgresUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
  }
  pending.add(drop)
  return { name, url: withDatabase(servers.postgresUrl, name), drop }
}

/** A stream key of one step and the cleanup of everything derived from it. */
export interface BenchStream {
  readonly key: string
  readonly cleanup: () => Promise<number>
}

/** Delete every Redis key starting with `prefix` (SCAN + UNLINK). */
export const deleteKeys = async (redisUrl: string, prefix: string): Promise<number> => {
  const client = createClient({ url: redisUrl, RESP: 2 }).on("error", () => undefined)
  await client.connect()
  try {
    let deleted = 0
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) deleted += await client.unlink(keys)
    }
    return deleted
  } finally {
    client.destroy()
  }
}

/** `agg:bench:<runId>:<label>`; nothing is created until the api writes. */
export const createStream = (servers: Servers, runId: string, label: string): BenchStream => {
  const key = `agg:bench:${runId}:${label}`
  const cleanup = (): Promise<number> => {
    pending.delete(cleanup)
    return deleteKeys(servers.redisUrl, key)
  }
  pending.add(cleanup)
  return { key, cleanup }
}
