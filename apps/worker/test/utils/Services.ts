/**
 * Runs one end-to-end test body with its own PostgreSQL database and Redis key prefix (@agg/testing). The body's
 * processes live in an inner scope, so they are all gone before the database is dropped and the keys deleted.
 *
 * Deliberately does not decide whether services are available: test files call `checkPostgres`/`checkRedis`.
 */
import { TestDatabase, TestRedis } from "@agg/testing/TestServices"
import { Effect, Layer, type Scope } from "effect"

/** Provide a fresh database and key prefix to `body`, closing the body's own scope first. */
export const withServices = <A, E>(
  body: Effect.Effect<A, E, Scope.Scope | TestDatabase | TestRedis>
): Effect.Effect<A, E> =>
  body.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(TestDatabase.layer(), TestRedis.layer())))
