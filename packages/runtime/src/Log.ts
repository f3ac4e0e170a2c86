/**
 * The JSON logger every app process uses: one object per line on stdout (Effect's `formatJson`: message, level,
 * timestamp, annotations such as `request_id`, spans, fiber), written in batches: lines logged within
 * `BATCH_WINDOW` go out in one write, so a line per request costs little at thousands of requests per second. The
 * batch is flushed when the layer closes (shutdown, fatal error). `level` is the one reading of LOG_LEVEL.
 *
 * Does not rotate, ship or sample logs, and drops them (without crashing) when stdout is closed. Does not apply
 * the level itself: `Main.runMain` reads it once and sets it for the whole program.
 */
import { Config, Effect, Layer, Logger, type LogLevel, References } from "effect"
import type { Help } from "./Env.ts"

/** How long lines may wait to be written together. */
export const BATCH_WINDOW = "20 millis"

const isPrimitive = (value: unknown): boolean => {
  const type = typeof value
  return value === null || type === "string" || type === "number" || type === "boolean" || type === "undefined"
}

/**
 * `Logger.formatJson`'s line, written directly for the common line: a single string message, primitive
 * annotations, no spans and no cause (an access log line, most lines). Then plain `JSON.stringify` of the parts
 * gives exactly the line `Logger.formatJson` would (it differs only on bigints, errors, getters, redacted values
 * and cycles, which primitives cannot hold), at a fraction of its cost: no structured copy, no replacer. Any other
 * line goes through `Logger.formatJson`.
 */
export const formatJson: Logger.Logger<unknown, string> = Logger.make((options) => {
  const message = Array.isArray(options.message) && options.message.length === 1 ? options.message[0] : undefined
  if (typeof message !== "string" || options.cause.reasons.length > 0) return Logger.formatJson.log(options)
  if (options.fiber.getRef(References.CurrentLogSpans).length > 0) return Logger.formatJson.log(options)
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  for (const key of Object.keys(annotations)) {
    if (!isPrimitive(annotations[key])) return Logger.formatJson.log(options)
  }
  return (
    `{"message":${JSON.stringify(message)},"level":"${options.logLevel.toUpperCase()}",` +
    `"timestamp":"${options.date.toISOString()}","annotations":${JSON.stringify(annotations)},` +
    `"spans":{},"fiberId":"#${options.fiber.id}"}`
  )
})

const batchedJson = Logger.batched(formatJson, {
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

/** The batched JSON logger, replacing the default one, and survival of a closed stdout. @category layers */
export const layer: Layer.Layer<never> = Layer.mergeAll(survivesClosedStdout, Logger.layer([batchedJson]))

const DEFAULT_LEVEL: LogLevel.LogLevel = "Info"

/** The minimum level: LOG_LEVEL, Info when unset. @category constructors */
export const level: Config.Config<LogLevel.LogLevel> = Config.LogLevel("LOG_LEVEL").pipe(
  Config.withDefault(DEFAULT_LEVEL)
)

/** LOG_LEVEL as a `--help` line. @category models */
export const levelHelp: Help = {
  name: "LOG_LEVEL",
  fallback: DEFAULT_LEVEL,
  meaning: "minimum log level: All, Trace, Debug, Info, Warn, Error, Fatal, None"
}
