// The driver-error classification of PgError, table-driven, plus real errors from PGlite and node-postgres.
import { EventStore } from "@agg/core"
import { PGlite } from "@electric-sql/pglite"
import pg from "pg"
import { assert, describe, it } from "vitest"
import { isRetryable, toEventStoreError } from "../src/postgres/PgError.ts"

const withCode = (code: string, message = `error ${code}`) => Object.assign(new Error(message), { code })

describe("PgError.isRetryable", () => {
  const cases: ReadonlyArray<readonly [string, unknown, boolean]> = [
    ["serialization failure 40001", withCode("40001"), true],
    ["deadlock 40P01", withCode("40P01"), true],
    ["terminated by administrator 57P01", withCode("57P01"), true],
    ["crash shutdown 57P02", withCode("57P02"), true],
    ["cannot connect now 57P03", withCode("57P03"), true],
    ["too many connections 53300", withCode("53300"), true],
    ["connection failure 08006", withCode("08006"), true],
    ["unable to connect 08001", withCode("08001"), true],
    ["connection exception 08000", withCode("08000"), true],
    ["socket reset ECONNRESET", withCode("ECONNRESET"), true],
    ["refused ECONNREFUSED", withCode("ECONNREFUSED"), true],
    ["broken pipe EPIPE", withCode("EPIPE"), true],
    ["node-postgres lost socket", new Error("Connection terminated unexpectedly"), true],
    ["node-postgres pool timeout", new Error("timeout exceeded when trying to connect"), true],
    ["unique violation 23505", withCode("23505"), false],
    ["invalid text representation 22P02", withCode("22P02"), false],
    ["undefined table 42P01", withCode("42P01"), false],
    ["syntax error 42601", withCode("42601"), false],
    ["query canceled 57014", withCode("57014"), false],
    ["a plain Error", new Error("boom"), false],
    ["a string", "boom", false],
    ["undefined", undefined, false]
  ]
  for (const [name, cause, retryable] of cases) {
    it(`${name} → ${retryable ? "retryable" : "not retryable"}`, () => {
      assert.strictEqual(isRetryable(cause), retryable)
    })
  }
})

describe("PgError.toEventStoreError", () => {
  it("keeps operation, code and cause; passes an EventStoreError through unchanged", () => {
    const cause = withCode("40P01", "deadlock detected")
    const error = toEventStoreError("commit", cause)
    assert.instanceOf(error, EventStore.EventStoreError)
    assert.strictEqual(error.operation, "commit")
    assert.isTrue(error.retryable)
    assert.strictEqual(error.message, "commit failed: deadlock detected (40P01)")
    assert.strictEqual(error.cause, cause)
    assert.strictEqual(toEventStoreError("read", error), error)
  })

  it("classifies a real PGlite error (undefined table) as not retryable", async () => {
    const db = new PGlite()
    const cause = await db.query("select * from missing_table").then(
      () => undefined,
      (e: unknown) => e
    )
    await db.close()
    const error = toEventStoreError("read", cause)
    assert.isFalse(error.retryable)
    assert.include(error.message, "42P01")
  })

  it("classifies a real node-postgres connection refusal as retryable", async () => {
    const client = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:1/x" })
    const cause = await client.connect().then(
      () => undefined,
      (e: unknown) => e
    )
    assert.isTrue(toEventStoreError("commit", cause).retryable)
  })
})
