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
    // Setup and server faults: the entries must stay pending (a non-retryable commit failure dead-letters).
    ["undefined table 42P01", withCode("42P01"), true],
    ["undefined column 42703", withCode("42703"), true],
    ["insufficient privilege 42501", withCode("42501"), true],
    ["syntax error 42601", withCode("42601"), true],
    ["password authentication failed 28P01", withCode("28P01"), true],
    ["invalid authorization 28000", withCode("28000"), true],
    ["database does not exist 3D000", withCode("3D000"), true],
    ["disk full 53100", withCode("53100"), true],
    ["out of memory 53200", withCode("53200"), true],
    ["query canceled 57014", withCode("57014"), true],
    ["lock not available 55P03", withCode("55P03"), true],
    ["io error 58030", withCode("58030"), true],
    ["internal error XX000", withCode("XX000"), true],
    ["node-postgres read timeout", new Error("Query read timeout"), true],
    ["closed PGlite", new Error("PGlite is closed"), true],
    // The batch's values: only these may lead to a dead letter.
    ["unique violation 23505", withCode("23505"), false],
    ["not-null violation 23502", withCode("23502"), false],
    ["invalid text representation 22P02", withCode("22P02"), false],
    ["unsupported unicode escape 22P05", withCode("22P05"), false],
    ["cardinality violation 21000", withCode("21000"), false],
    ["program limit exceeded 54000", withCode("54000"), false],
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

  it("classifies a real PGlite setup error (undefined table) as retryable, a data error (NUL in jsonb) as not", async () => {
    const db = new PGlite()
    const missing = await db.query("select * from missing_table").then(
      () => undefined,
      (e: unknown) => e
    )
    const nul = await db.query("select $1::jsonb", [JSON.stringify({ s: "a\u0000b" })]).then(
      () => undefined,
      (e: unknown) => e
    )
    await db.close()
    const setup = toEventStoreError("commit", missing)
    assert.isTrue(setup.retryable, setup.message)
    assert.include(setup.message, "42P01")
    const data = toEventStoreError("commit", nul)
    assert.isFalse(data.retryable, data.message)
    assert.include(data.message, "22P05")
  })

  it("classifies a real node-postgres unknown database as retryable", async () => {
    const client = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/agg_no_such_database" })
    const cause = await client.connect().then(
      () => undefined,
      (e: unknown) => e
    )
    await client.end().catch(() => undefined)
    const error = toEventStoreError("commit", cause)
    assert.include(error.message, "3D000")
    assert.isTrue(error.retryable, error.message)
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
