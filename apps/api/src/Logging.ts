/**
 * JSON logs on stdout, one object per line (Effect's `formatJson`: message, level, timestamp, annotations such
 * as `request_id`, spans, fiber), written in batches: lines logged within `window` go out in one write, so a
 * line per request costs little at thousands of requests per second. The batch is flushed when the layer
 * closes (shutdown, fatal error). Level from LOG_LEVEL (default Info).
 *
 * Does not rotate, ship or sample logs, and drops them (without crashing) when stdout is closed.
 */
import { Config, Effect, Layer, Logger, References } from "effect"

/** How long lines may wait to be written together. */
export const BATCH_WINDOW = "20 millis"

const batchedJson = Logger.batched(Logger.formatJson, {
  window: BATCH_WINDOW,
  flush: (lines) =>
    Effect.sync(() => {
      if (lines.length > 0 && process.stdout.writable) process.stdout.write(`${lines.join("\n")}\n`)
    })
})

// A closed stdout (the log reader went away) must not take the server down: Node would throw the stream's
// unhandled 'error' (EPIPE). Logs are lost from then on; requests are still served.
const survivesClosedStdout = Layer.effectDiscard(
  Effect.sync(() => {
    if (process.stdout.listenerCount("error") === 0) process.stdout.on("error", () => undefined)
  })
)

/** The logger and the minimum level. @category layers */
export const layer = Layer.mergeAll(
  survivesClosedStdout,
  Logger.layer([batchedJson]),
  Layer.effect(References.MinimumLogLevel, Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const)))
)
