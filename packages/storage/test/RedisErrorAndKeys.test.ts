// The node-redis error classification of RedisError, and the key derivation of StreamKeys.
import { EventLog } from "@agg/core"
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ErrorReply,
  MultiErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError
} from "redis"
import { assert, describe, it } from "vitest"
import { isRetryable, toEventLogError } from "../src/redis/RedisError.ts"
import * as StreamKeys from "../src/redis/StreamKeys.ts"

describe("RedisError.isRetryable", () => {
  const cases: ReadonlyArray<readonly [string, unknown, boolean]> = [
    ["socket closed unexpectedly", new SocketClosedUnexpectedlyError(), true],
    ["connect timeout", new ConnectionTimeoutError(), true],
    ["socket timeout", new SocketTimeoutError(1000), true],
    ["command timeout", new TimeoutError(), true],
    ["client offline", new ClientOfflineError(), true],
    ["reconnect strategy gave up", new ReconnectStrategyError(new Error("x"), new Error("y")), true],
    ["Node ECONNRESET", Object.assign(new Error("reset"), { code: "ECONNRESET" }), true],
    ["LOADING reply", new ErrorReply("LOADING Redis is loading the dataset in memory"), true],
    ["BUSY reply", new ErrorReply("BUSY Redis is busy running a script"), true],
    ["OOM reply", new ErrorReply("OOM command not allowed when used memory > 'maxmemory'"), true],
    ["WRONGTYPE reply", new ErrorReply("WRONGTYPE Operation against a key holding the wrong kind of value"), false],
    ["NOGROUP reply", new ErrorReply("NOGROUP No such key or consumer group"), false],
    ["syntax error reply", new ErrorReply("ERR syntax error"), false],
    ["closed client", new ClientClosedError(), false],
    ["a plain Error", new Error("boom"), false],
    ["MULTI with only busy errors", new MultiErrorReply([new ErrorReply("LOADING x"), "OK" as never], [0]), true],
    [
      "MULTI with a WRONGTYPE error",
      new MultiErrorReply([new ErrorReply("LOADING x"), new ErrorReply("WRONGTYPE y")], [0, 1]),
      false
    ]
  ]
  for (const [name, cause, retryable] of cases) {
    it(`${name} → ${retryable ? "retryable" : "not retryable"}`, () => {
      assert.strictEqual(isRetryable(cause), retryable)
    })
  }

  it("toEventLogError keeps operation, message and cause, and passes an EventLogError through", () => {
    const cause = new SocketClosedUnexpectedlyError()
    const error = toEventLogError("append", cause)
    assert.instanceOf(error, EventLog.EventLogError)
    assert.strictEqual(error.operation, "append")
    assert.isTrue(error.retryable)
    assert.strictEqual(error.message, `append failed: ${cause.message}`)
    assert.strictEqual(error.cause, cause)
    assert.strictEqual(toEventLogError("read", error), error)
  })
})

describe("StreamKeys", () => {
  it("derives every key from STREAM_KEY", () => {
    assert.deepStrictEqual(StreamKeys.make("agg:events"), {
      stream: "agg:events",
      group: "agg:events:workers",
      received: "agg:events:received",
      deadLetter: "agg:events:dlq",
      deadLettered: "agg:events:dlq:count"
    })
    assert.strictEqual(StreamKeys.make("k", "billing").group, "billing")
  })

  it("refuses an empty, too long or whitespace key, naming STREAM_KEY", () => {
    for (const bad of ["", "a b", "tab\there", "x".repeat(256)]) {
      assert.throws(() => StreamKeys.make(bad), RangeError, "STREAM_KEY must be")
    }
    assert.throws(() => StreamKeys.make("ok", "bad group"), RangeError, "consumer group must be")
  })
})
