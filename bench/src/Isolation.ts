/**
 * Isolation of one benchmark step on shared servers, with @agg/testing's helpers: its own PostgreSQL database
 * (`agg_bench_<run>_<label>_<random>`, dropped WITH (FORCE) afterwards) and its own Redis key prefix used as
 * STREAM_KEY (`agg:bench:<run>:<label>:<random>`, every key under it unlinked afterwards). Two bench runs, or a bench
 * run beside the test suite, never share state.
 *
 * What is bench-specific here: the names carry the run and step, and whatever a step created is tracked until it is
 * cleaned up, so an interrupted run (`cleanupAll`) leaves nothing behind.
 *
 * @remarks Creates empty databases: the api/worker migrate them themselves, the baselines create their own tables.
 * Never touches a database or key it did not create.
 */
import {
  createRedisPrefix,
  createTestDatabase,
  postgresUrl,
  redisUrl,
  type TestDatabaseHandle
} from "@agg/testing/TestServices"

/** Server URLs of a run; the database part of `postgresUrl` is only used for CREATE/DROP DATABASE. */
export interface Servers {
  readonly postgresUrl: string
  readonly redisUrl: string
}

/** `DATABASE_URL` and `REDIS_URL`, or the local servers (the same defaults as the tests). */
export const defaultServers = (): Servers => ({ postgresUrl: postgresUrl(), redisUrl: redisUrl() })

const LABEL = /^[a-z0-9_]+$/

// What this process created and has not cleaned up yet, for `cleanupAll` after an interrupt.
const pending = new Set<() => Promise<unknown>>()

/** Drop every database and delete every stream key this process created and has not cleaned up yet. */
export const cleanupAll = async (): Promise<void> => {
  for (const cleanup of [...pending]) await cleanup().catch(() => undefined)
}

/** `CREATE DATABASE agg_bench_<runId>_<label>_<random>`; `runId` and `label` are [a-z0-9_]. */
export const createDatabase = async (servers: Servers, runId: string, label: string): Promise<TestDatabaseHandle> => {
  if (!LABEL.test(runId) || !LABEL.test(label)) throw new Error(`bad database label: ${runId}_${label}`)
  const db = await createTestDatabase({ serverUrl: servers.postgresUrl, namePrefix: `agg_bench_${runId}_${label}` })
  const drop = (): Promise<void> => {
    pending.delete(drop)
    return db.drop()
  }
  pending.add(drop)
  return { ...db, drop }
}

/** A stream key of one step and the cleanup of everything derived from it. */
export interface BenchStream {
  readonly key: string
  readonly cleanup: () => Promise<number>
}

/** `agg:bench:<runId>:<label>:<random>`; nothing is created until the api writes. */
export const createStream = (servers: Servers, runId: string, label: string): BenchStream => {
  const handle = createRedisPrefix(servers.redisUrl, `agg:bench:${runId}:${label}`)
  const cleanup = (): Promise<number> => {
    pending.delete(cleanup)
    return handle.cleanup()
  }
  pending.add(cleanup)
  return { key: handle.prefix, cleanup }
}
