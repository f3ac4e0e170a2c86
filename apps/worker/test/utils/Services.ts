/**
 * Runs one end-to-end test body with its own PostgreSQL database and Redis key prefix on the shared servers
 * (`withServices`), or on private servers of its own that it may restart and crash (`withPrivateServers`), all from
 * @agg/testing. The body's processes live in an inner scope, so they are all gone before the database is dropped,
 * the keys deleted or the servers torn down.
 *
 * Deliberately does not decide whether services are available: test files call `checkPostgres`/`checkRedis`.
 */
import { type PrivatePostgres, startPrivatePostgres } from "@agg/testing/PrivatePostgres"
import { type PrivateRedis, startPrivateRedis } from "@agg/testing/PrivateRedis"
import { TestDatabase, TestRedis } from "@agg/testing/TestServices"
import { Effect, type Scope } from "effect"

/** A fresh database and key prefix for `body` (@agg/testing's, shared with the example services' tests). */
export { withServices } from "@agg/testing/TestServices"

/** The servers a fault test owns (and may restart, crash and start again). */
export interface PrivateServers {
  readonly postgres: PrivatePostgres
  readonly redis: PrivateRedis
}

/**
 * Like `withServices`, on a private PostgreSQL and a private Redis (AOF, fsync always) started for this body alone:
 * its database is the server's `postgres` database, its key prefix `agg:e2e`. The body's scope closes first (its
 * processes are gone), then both servers are torn down, also when the body failed.
 */
export const withPrivateServers = <A, E>(
  body: (servers: PrivateServers) => Effect.Effect<A, E, Scope.Scope | TestDatabase | TestRedis>
): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const acquire = <S extends { readonly teardown: () => Promise<void> }>(start: () => Promise<S>) =>
      Effect.acquireRelease(Effect.promise(start), (server) => Effect.promise(server.teardown))
    const [postgres, redis] = yield* Effect.all([acquire(startPrivatePostgres), acquire(startPrivateRedis)], {
      concurrency: 2
    })
    return yield* body({ postgres, redis }).pipe(
      Effect.scoped,
      Effect.provideService(TestDatabase, TestDatabase.of({ name: "postgres", url: postgres.url })),
      Effect.provideService(TestRedis, TestRedis.of({ url: redis.url, prefix: "agg:e2e" }))
    )
  }).pipe(Effect.scoped)
