/**
 * Real test services: each test file gets its own PostgreSQL database (`agg_test_<random>`, created from
 * `DATABASE_URL` or the local default, dropped WITH (FORCE) afterwards) and its own Redis key prefix
 * (`agg:test:<random>`, used like `STREAM_KEY`; every key under it deleted afterwards), so files that share one
 * server can run in parallel without interfering.
 *
 * Availability is checked once per file (top-level `await checkPostgres()` / `checkRedis()`): when a service is
 * unreachable, with `CI=true` the check throws (the file fails, naming the service and URL); otherwise
 * `describeWithServices` reports the suite as skipped with that reason. Nothing ever passes silently.
 *
 * Three shapes of the same helpers: plain async ones that work outside vitest too (`createTestDatabase`,
 * `createRedisPrefix`, `withPgClient`, `queryRows`; the benchmarks isolate their runs with them), vitest `beforeAll`/`afterAll`
 * wrappers (`useTestDatabase`, `useRedisPrefix`) and Effect layers (`TestDatabase.layer`, `TestRedis.layer`) for
 * `@effect/vitest`'s `layer`.
 *
 * @remarks Does not migrate anything itself: pass `setup` (e.g. the storage migrations) to run on the fresh
 * database. Does not start servers, and never touches databases or keys it did not create.
 */
import { randomBytes } from "node:crypto"
import { Context, Effect, Layer, type Scope } from "effect"
import pg from "pg"
import { createClient } from "redis"
import { afterAll, describe, it } from "vitest"
import { useForFile } from "./Lifecycle.ts"

/** The PostgreSQL server URL tests connect to; its database is only used to issue CREATE/DROP DATABASE. */
export const postgresUrl = (): string => process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
/** The Redis URL tests connect to. */
export const redisUrl = (): string => process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

/** Whether a service answered, and why not. */
export type Availability =
  | { readonly service: string; readonly url: string; readonly available: true }
  | { readonly service: string; readonly url: string; readonly available: false; readonly reason: string }

const isCi = (): boolean => process.env.CI === "true" || process.env.CI === "1"
const PROBE_TIMEOUT_MS = 3_000

const messageOf = (cause: unknown): string =>
  cause instanceof AggregateError && cause.errors.length > 0
    ? cause.errors.map(messageOf).join("; ")
    : cause instanceof Error
      ? cause.message || cause.name
      : String(cause)

// Under CI an unreachable service fails the file at collection time; elsewhere it becomes a skip reason.
const settle = async (service: string, url: string, ci: boolean, probe: () => Promise<void>): Promise<Availability> => {
  try {
    await probe()
    return { service, url, available: true }
  } catch (cause) {
    const reason = `${service} unreachable at ${url}: ${messageOf(cause)}`
    if (ci) throw new Error(`${reason} (CI=true: tests that need ${service} cannot be skipped)`)
    return { service, url, available: false, reason }
  }
}

/** Options of the probes; `ci` defaults to whether `CI` is `true`/`1`. */
export interface CheckOptions {
  readonly ci?: boolean
}

/** Probe PostgreSQL (`select 1`). Throws under CI when unreachable. */
export const checkPostgres = (url: string = postgresUrl(), options: CheckOptions = {}): Promise<Availability> =>
  settle("PostgreSQL", url, options.ci ?? isCi(), async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS })
    try {
      await client.connect()
      await client.query("select 1")
    } finally {
      await client.end().catch(() => undefined)
    }
  })

/** Probe Redis (`PING`), without reconnect attempts. Throws under CI when unreachable. */
export const checkRedis = (url: string = redisUrl(), options: CheckOptions = {}): Promise<Availability> =>
  settle("Redis", url, options.ci ?? isCi(), async () => {
    const client = createClient({
      url,
      RESP: 2,
      socket: { connectTimeout: PROBE_TIMEOUT_MS, reconnectStrategy: false }
    }).on("error", () => undefined)
    try {
      await client.connect()
      await client.ping()
    } finally {
      client.destroy()
    }
  })

/**
 * `describe(name, fn)` when every service is available; otherwise one test reported as skipped with the
 * reasons (the suite body, and so its hooks, never runs).
 */
export const describeWithServices = (name: string, services: ReadonlyArray<Availability>, fn: () => void): void => {
  const reasons = services.flatMap((s) => (s.available ? [] : [s.reason]))
  if (reasons.length === 0) {
    describe(name, fn)
    return
  }
  describe(name, () => {
    it(`needs ${services.map((s) => s.service).join(" and ")}`, (ctx) => ctx.skip(reasons.join("; ")))
  })
}

const randomSuffix = (): string => randomBytes(6).toString("hex")

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

/** A database created for one test file. */
export interface TestDatabaseHandle {
  /** Database name, `<namePrefix>_<12 hex>` (`agg_test_<12 hex>` by default). */
  readonly name: string
  /** Connection URL of the new database (same server and credentials as the server URL). */
  readonly url: string
  /** Drop it (WITH (FORCE): open connections are terminated). Idempotent. */
  readonly drop: () => Promise<void>
}

/** Options of `createTestDatabase`. */
export interface TestDatabaseOptions {
  /** Server URL; default `postgresUrl()`. */
  readonly serverUrl?: string
  /** Run on the new database before it is handed out, e.g. migrations. */
  readonly setup?: (url: string) => Promise<void>
  /** Start of the name, `[a-z0-9_]+` (e.g. `agg_bench_<run>_<step>`); default `agg_test`. */
  readonly namePrefix?: string
}

const withDatabase = (serverUrl: string, name: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Run `f` with a short-lived client on `url` (connect timeout 3 s), closed afterwards. */
export const withPgClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Run one query on a short-lived client (see `withPgClient`) and return its rows. */
export const queryRows = <R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: ReadonlyArray<unknown> = []
): Promise<Array<R>> => withPgClient(url, async (client) => (await client.query<R>(text, [...values])).rows)

/** Create an isolated database `<namePrefix>_<random>` on the server; run `setup` on it. */
export const createTestDatabase = async (options: TestDatabaseOptions = {}): Promise<TestDatabaseHandle> => {
  const serverUrl = options.serverUrl ?? postgresUrl()
  const namePrefix = options.namePrefix ?? "agg_test"
  if (!/^[a-z0-9_]+$/.test(namePrefix))
    throw new Error(`createTestDatabase: namePrefix must be [a-z0-9_]+: ${namePrefix}`)
  const name = `${namePrefix}_${randomSuffix()}`
  // The name is made of [a-z0-9_] only, so quoting it is enough.
  await withPgClient(serverUrl, (c) => c.query(`CREATE DATABASE "${name}"`))
  let dropped = false
  const drop = async (): Promise<void> => {
    if (dropped) return
    dropped = true
    await withPgClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
  }
  const url = withDatabase(serverUrl, name)
  try {
    await options.setup?.(url)
  } catch (cause) {
    await drop()
    throw cause
  }
  return { name, url, drop }
}

/**
 * Plain vitest: create the file's database in `beforeAll`, drop it in `afterAll`. Read `handle()` inside tests
 * or later hooks (it throws before `beforeAll` ran).
 */
export const useTestDatabase = (options: TestDatabaseOptions = {}): (() => TestDatabaseHandle) =>
  useForFile(
    "useTestDatabase",
    "the database",
    () => createTestDatabase(options),
    (db) => db.drop()
  )

/** Effect service: the test file's isolated database. @category services */
export class TestDatabase extends Context.Service<TestDatabase, { readonly name: string; readonly url: string }>()(
  "@agg/testing/TestDatabase"
) {
  /** Creates the database when built, drops it when the layer is released. */
  static readonly layer = (options: TestDatabaseOptions = {}): Layer.Layer<TestDatabase> =>
    Layer.effect(
      TestDatabase,
      Effect.acquireRelease(
        Effect.promise(() => createTestDatabase(options)),
        (db) => Effect.promise(() => db.drop())
      ).pipe(Effect.map((db) => TestDatabase.of({ name: db.name, url: db.url })))
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Redis

/** A key prefix reserved for one test file. */
export interface RedisPrefixHandle {
  /** `<base>:<12 hex>` (`agg:test:<12 hex>` by default); use it as the STREAM_KEY or as the start of every key. */
  readonly prefix: string
  readonly url: string
  /** Delete every key starting with the prefix (SCAN + UNLINK); returns how many were deleted. */
  readonly cleanup: () => Promise<number>
}

/**
 * Delete every key that starts with `prefix`, and every hash-tagged key whose tag starts with it (`{<prefix>…}…`:
 * the log's keys when the prefix is used as STREAM_KEY).
 */
export const deleteKeysWithPrefix = async (url: string, prefix: string): Promise<number> => {
  const client = createClient({ url, RESP: 2 }).on("error", () => undefined)
  await client.connect()
  try {
    let deleted = 0
    // Glob metacharacters cannot occur in generated prefixes, but escape them anyway for caller-chosen ones.
    const escaped = prefix.replace(/[*?[\]\\]/g, "\\$&")
    for (const match of [`${escaped}*`, `{${escaped}*`]) {
      for await (const keys of client.scanIterator({ MATCH: match, COUNT: 500 })) {
        if (keys.length > 0) deleted += await client.unlink(keys)
      }
    }
    return deleted
  } finally {
    client.destroy()
  }
}

/** Reserve a fresh prefix `<base>:<random>` (default base `agg:test`); nothing is created until the test writes. */
export const createRedisPrefix = (url: string = redisUrl(), base = "agg:test"): RedisPrefixHandle => {
  const prefix = `${base}:${randomSuffix()}`
  return { prefix, url, cleanup: () => deleteKeysWithPrefix(url, prefix) }
}

/** Plain vitest: a prefix for the file, its keys deleted in `afterAll`. */
export const useRedisPrefix = (url: string = redisUrl()): RedisPrefixHandle => {
  const handle = createRedisPrefix(url)
  afterAll(async () => {
    await handle.cleanup()
  })
  return handle
}

/** Effect service: the test file's Redis URL and key prefix. @category services */
export class TestRedis extends Context.Service<TestRedis, { readonly url: string; readonly prefix: string }>()(
  "@agg/testing/TestRedis"
) {
  /** Reserves a prefix when built, deletes its keys when the layer is released. */
  static readonly layer = (url: string = redisUrl()): Layer.Layer<TestRedis> =>
    Layer.effect(
      TestRedis,
      Effect.acquireRelease(
        Effect.sync(() => createRedisPrefix(url)),
        (h) => Effect.promise(() => h.cleanup())
      ).pipe(Effect.map((h) => TestRedis.of({ url: h.url, prefix: h.prefix })))
    )
}

/**
 * Run `body` with a fresh database and Redis key prefix (`TestDatabase`, `TestRedis`), closing the body's own
 * scope first, so the processes and connections it opened are gone before the database is dropped and the keys
 * deleted.
 */
export const withServices = <A, E>(
  body: Effect.Effect<A, E, Scope.Scope | TestDatabase | TestRedis>
): Effect.Effect<A, E> =>
  body.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(TestDatabase.layer(), TestRedis.layer())))
