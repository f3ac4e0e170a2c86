/**
 * The JSON line logger writes exactly the line of Effect's `Logger.formatJson`: through its direct path (string
 * message, primitive annotations, no spans, no cause) and through the fallback for everything else. The layer
 * batches lines into one stdout write; LOG_LEVEL is read with its default and refusal.
 */
import { Cause, ConfigProvider, Effect, Logger, Redacted, References } from "effect"
import { describe, expect, it } from "vitest"
import { Env, Log } from "../src/index.ts"

const { formatJson } = Log

// Log `program`, rendering every line with both loggers from the same options (same date, same fiber).
const bothLines = (program: Effect.Effect<void>) => {
  const pairs: Array<[mine: string, effects: string]> = []
  const both = Logger.make((options) => {
    pairs.push([formatJson.log(options), Logger.formatJson.log(options)])
  })
  Effect.runSync(program.pipe(Effect.provide(Logger.layer([both]))))
  return pairs
}

describe("Log.formatJson", () => {
  it("matches Logger.formatJson on access-log-like lines", () => {
    const pairs = bothLines(
      Effect.logInfo("request").pipe(
        Effect.annotateLogs({ method: "POST", path: "/publish", status: 202, duration_ms: 0.4, gone: undefined }),
        Effect.annotateLogs("request_id", 'id "quoted" \\ é')
      )
    )
    expect(pairs).toHaveLength(1)
    const [mine, effects] = pairs[0]!
    expect(mine).toBe(effects)
    expect(JSON.parse(mine)).toMatchObject({
      message: "request",
      level: "INFO",
      annotations: { request_id: 'id "quoted" \\ é', status: 202 }
    })
  })

  it("matches Logger.formatJson on lines it hands over (objects, redacted values, spans, causes, levels)", () => {
    const pairs = bothLines(
      Effect.gen(function* () {
        yield* Effect.logWarning("publish failed", { reason: "Unavailable", error: "down" })
        yield* Effect.logInfo("listening").pipe(Effect.annotateLogs({ nested: { a: [1, 2] } }))
        yield* Effect.logInfo("secret").pipe(Effect.annotateLogs({ key: Redacted.make("hunter2") }))
        yield* Effect.logError("request failed with a defect", Cause.die(new Error("boom")))
        yield* Effect.logDebug("in a span").pipe(Effect.withLogSpan("work"))
        yield* Effect.logError(42)
      }).pipe(Effect.provideService(References.MinimumLogLevel, "All"))
    )
    expect(pairs.length).toBe(6)
    for (const [mine, effects] of pairs) expect(mine).toBe(effects)
    expect(pairs.some(([line]) => line.includes("hunter2"))).toBe(false)
  })
})

describe("Log.level", () => {
  const level = (env: Record<string, string>) =>
    Effect.runPromise(Effect.result(Log.level.parse(ConfigProvider.fromEnv({ env }))))

  it("is Info when unset, LOG_LEVEL when set, and a refused LOG_LEVEL names the variable", async () => {
    expect(await level({})).toMatchObject({ _tag: "Success", success: "Info" })
    expect(await level({ LOG_LEVEL: "Debug" })).toMatchObject({ _tag: "Success", success: "Debug" })
    const refused = await level({ LOG_LEVEL: "loud" })
    expect(refused._tag === "Failure" && Env.describeConfigError(refused.failure)).toMatch(/^LOG_LEVEL: Expected /)
  })
})

describe("Log.layer", () => {
  it("writes the lines logged within the batch window as JSON lines in one write, flushed when it closes", async () => {
    const writes: Array<string> = []
    const write = process.stdout.write
    process.stdout.write = ((chunk: string) => {
      writes.push(String(chunk))
      return true
    }) as typeof process.stdout.write
    try {
      await Effect.runPromise(
        Effect.gen(function* () {
          yield* Effect.logInfo("first")
          yield* Effect.logWarning("second").pipe(Effect.annotateLogs({ n: 2 }))
        }).pipe(Effect.provide(Log.layer))
      )
    } finally {
      process.stdout.write = write
    }
    expect(writes).toHaveLength(1)
    const lines = writes[0]!
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line))
    expect(lines).toMatchObject([
      { message: "first", level: "INFO" },
      { message: "second", level: "WARN", annotations: { n: 2 } }
    ])
  })
})
