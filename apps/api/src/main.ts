/**
 * Entry point of the API: read and validate the configuration, compose the live layers of the configured mode
 * (see `Layers`), serve until SIGTERM/SIGINT, then shut down gracefully and exit 0. JSON logs on stdout. A bad
 * variable stops the process at start with a message naming it (exit 1).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Effect, Exit, Layer, Runtime } from "effect"
import * as ApiConfig from "./Config.ts"
import * as Layers from "./Layers.ts"
import * as Logging from "./Logging.ts"
import * as Server from "./Server.ts"

const VERSION = "0.1.0"

const Main = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ApiConfig.load
    return Server.layer({
      limits: config.limits,
      apiKeys: config.apiKeys,
      accessLog: config.accessLog,
      version: VERSION,
      port: config.port,
      host: config.host,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      dataLocation: Layers.describeData(config.mode)
    }).pipe(Layer.provide(Layers.services(config)))
  })
)

// A signal interrupts the main fiber; finalizers run (server drains, group commit drains, pools close): exit 0.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

// "PORT: Expected a value between 1 and 65535" rather than a ConfigError dump with a stack.
const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (error instanceof Config.ConfigError) {
    const inner = error.cause
    if (inner._tag === "SourceError") return `invalid configuration: ${inner.message}`
    const located = /^([\s\S]*?)\n\s*at \["?([^"\]]+)"?\]/.exec(inner.message)
    return `invalid configuration: ${located === null ? inner.message : `${located[2]}: ${located[1]}`}`
  }
  return error instanceof Error ? error.message : Cause.pretty(cause)
}

// Failures are logged once, as one JSON line naming the problem (exit 1); a signal is a clean stop (exit 0).
const program = Layer.launch(Main).pipe(
  // onExit runs uninterruptibly, after every layer of Main is released.
  Effect.onExit((exit) =>
    Exit.isSuccess(exit)
      ? Effect.void
      : Cause.hasInterruptsOnly(exit.cause)
        ? Effect.logInfo("stopped: requests answered, group commit drained, connections closed")
        : Effect.logError(`fatal: ${describeFailure(exit.cause)}`)
  ),
  Effect.provide(Logging.layer)
)

NodeRuntime.runMain(program, { teardown, disableErrorReporting: true })
