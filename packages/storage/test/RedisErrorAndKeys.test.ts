// The node-redis error classification of RedisError, and the key rule and layout of StreamKeys.
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
  it("derives every key from STREAM_KEY, hash-tagged by partition", () => {
    const keys = StreamKeys.make("agg:events")
    assert.strictEqual(keys.streamKey, "agg:events")
    assert.strictEqual(keys.group, "agg:events:workers")
    assert.deepStrictEqual(keys.partition(0), {
      index: 0,
      stream: "{agg:events:p0}:stream",
      received: "{agg:events:p0}:received",
      deadLetter: "{agg:events:p0}:dlq",
      deadLettered: "{agg:events:p0}:dlq:count",
      discarded: "{agg:events:p0}:dlq:discarded"
    })
    assert.strictEqual(keys.partition(3).stream, "{agg:events:p3}:stream")
    assert.deepStrictEqual(keys.legacy, {
      stream: "agg:events",
      received: "agg:events:received",
      deadLetter: "agg:events:dlq",
      deadLettered: "agg:events:dlq:count"
    })
    assert.strictEqual(StreamKeys.make("k", "billing").group, "billing")
    assert.throws(() => keys.partition(-1), RangeError, "partition")
    assert.throws(() => keys.partition(0.5), RangeError, "partition")
  })

  it("refuses an empty, too long, whitespace, control-character or brace key, naming STREAM_KEY", () => {
    const bad = ["", "a b", "tab\there", "x".repeat(256), "nl\n", "nul\u0000", "x".repeat(201), "{a}", "a{", "a}b"]
    for (const key of bad) {
      const problem = StreamKeys.validate(key)
      assert.isDefined(problem, JSON.stringify(key))
      assert.match(problem!, /^must be 1–200 characters/)
      assert.include(problem, JSON.stringify(key))
      assert.throws(() => StreamKeys.make(key), RangeError, `STREAM_KEY ${problem}`)
    }
    for (const key of ["a", "agg:events", "tenant-a:events", "é".repeat(200), "x".repeat(200), "a:p0", "[a]*?"]) {
      assert.isUndefined(StreamKeys.validate(key), key)
      assert.strictEqual(StreamKeys.make(key).streamKey, key)
    }
    assert.throws(() => StreamKeys.make("ok", "bad group"), RangeError, "consumer group must be")
  })

  it("no two valid STREAM_KEYs or partitions ever share a key", () => {
    // Pairs that collided, or could, in a layout without hash tags: a counter of one is the stream of the other,
    // a partition suffix inside a STREAM_KEY, a key that looks like another's tag.
    const streamKeys = [
      "a",
      "a:received",
      "a:dlq",
      "a:dlq:count",
      "a:stream",
      "a:p0",
      "a:p1",
      "a:p0:stream",
      "a:p1:p0",
      "p0",
      ":p0",
      "a:",
      "a::p0",
      "agg:events",
      "agg:events:workers"
    ]
    const owner = new Map<string, string>()
    for (const streamKey of streamKeys) {
      const keys = StreamKeys.make(streamKey)
      for (let i = 0; i < 12; i++) {
        const p = keys.partition(i)
        for (const key of [p.stream, p.received, p.deadLetter, p.deadLettered]) {
          const who = `${JSON.stringify(streamKey)} partition ${i}`
          assert.isUndefined(owner.get(key), `${key} belongs to ${owner.get(key)} and to ${who}`)
          owner.set(key, who)
          // One hash tag, the partition's: the whole key lives on one Redis Cluster slot with its siblings.
          assert.isTrue(key.startsWith(`{${streamKey}:p${i}}:`), key)
        }
      }
    }
    // The deployment-wide keys: never a partition's, never another deployment's, all on the deployment's tag.
    for (const streamKey of streamKeys) {
      const keys = StreamKeys.make(streamKey)
      for (const key of [keys.partitionCount, keys.consumers, keys.consumer("a"), keys.consumer("p0}:stream")]) {
        assert.isUndefined(owner.get(key), `${key} belongs to ${owner.get(key)} and to ${streamKey}`)
        owner.set(key, streamKey)
        assert.isTrue(key.startsWith(`{${streamKey}}:`), key)
      }
    }
    assert.strictEqual(owner.size, streamKeys.length * (12 * 4 + 4))
    // The old layout's clash: STREAM_KEY a's counter was STREAM_KEY a:received's stream.
    assert.strictEqual(StreamKeys.make("a").legacy.received, StreamKeys.make("a:received").legacy.stream)
  })
})
