/**
 * The JSON line logger writes exactly the line of Effect's `Logger.formatJson`: through its direct path (string
 * message, primitive annotations, no spans, no cause) and through the fallback for everything else.
 */
import { Cause, Effect, Logger, Redacted, References } from "effect"
import { describe, expect, it } from "vitest"
import { formatJson } from "../src/Logging.ts"

// Log `program`, rendering every line with both loggers from the same options (same date, same fiber).
const bothLines = (program: Effect.Effect<void>) => {
  const pairs: Array<[mine: string, effects: string]> = []
  const both = Logger.make((options) => {
    pairs.push([formatJson.log(options), Logger.formatJson.log(options)])
  })
  Effect.runSync(program.pipe(Effect.provide(Logger.layer([both]))))
  return pairs
}

describe("Logging.formatJson", () => {
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
