/**
 * How an app process runs: `runMain(layerOrEffect)` launches the program with the JSON logger and the LOG_LEVEL
 * minimum level, and on NodeRuntime's SIGINT/SIGTERM handling, which interrupts the main fiber so every finalizer
 * runs (servers drain, pools close). Then:
 * - an interrupt-only exit is the graceful stop: an optional "stopped" line, exit 0 (not the default 130);
 * - any other failure (a refused variable, a service unreachable at start, a defect) is one JSON log line at
 *   FATAL, `fatal: <described cause>` without a stack, and exit 1.
 *
 * Deliberately knows nothing of what the app serves or consumes, and prints nothing but through the logger.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Effect, Exit, Layer, References, Runtime } from "effect"
import { describeConfigError } from "./Env.ts"
import * as Log from "./Log.ts"

/**
 * Exit codes: success 0, interrupt-only 0 (a signal asked for the stop and it completed), failure 1.
 * @category constructors
 */
export const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

/**
 * One line for a failure: "invalid configuration: PORT: Expected a value between 1 and 65535", an error's tag and
 * message ("EventStoreError: connect ECONNREFUSED 127.0.0.1:5432"), or the pretty cause for anything else.
 * @category constructors
 */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (error instanceof Config.ConfigError) return `invalid configuration: ${describeConfigError(error)}`
  if (error instanceof Error) {
    const tag = (error as { readonly _tag?: unknown })._tag
    const name = typeof tag === "string" ? tag : error.name
    return error.message === "" ? name : `${name}: ${error.message}`
  }
  return Cause.pretty(cause)
}

/** @category models */
export interface RunOptions {
  /** Logged (at Info) after a graceful stop, once every finalizer has run. */
  readonly stopped?: string
}

/**
 * The program of `runMain`, without running it: LOG_LEVEL read and applied, the outcome logged, the JSON logger
 * provided (and flushed when it closes). Exposed for tests.
 * @category constructors
 */
export const program = <A, E>(
  main: Layer.Layer<A, E> | Effect.Effect<A, E>,
  options: RunOptions = {}
): Effect.Effect<unknown, E | Config.ConfigError> => {
  // isLayer narrows to Layer<unknown, unknown, unknown>: the union's own members are the precise types.
  const run = Layer.isLayer(main) ? Layer.launch(main as Layer.Layer<A, E>) : (main as Effect.Effect<A, E>)
  // onExit runs uninterruptibly, after every layer of `main` is released.
  const report = (exit: Exit.Exit<unknown, E | Config.ConfigError>) =>
    Exit.isSuccess(exit)
      ? Effect.void
      : !Cause.hasInterruptsOnly(exit.cause)
        ? Effect.logFatal(`fatal: ${describeCause(exit.cause)}`)
        : options.stopped === undefined
          ? Effect.void
          : Effect.logInfo(options.stopped)
  const levelled: Effect.Effect<unknown, E | Config.ConfigError> = Effect.matchCauseEffect(Log.level, {
    // A refused LOG_LEVEL is reported like any other variable (at the default level, the only one known).
    onFailure: (cause: Cause.Cause<Config.ConfigError>) =>
      Effect.andThen(report(Exit.failCause(cause)), Effect.failCause(cause)),
    onSuccess: (level) => run.pipe(Effect.onExit(report), Effect.provideService(References.MinimumLogLevel, level))
  })
  return Effect.provide(levelled, Log.layer)
}

/**
 * Run an app until it ends or a signal stops it, then exit the process (see the module comment for the codes).
 *
 * @example
 * Main.runMain(Server.layer(options).pipe(Layer.provide(services)), { stopped: "stopped: connections closed" })
 * @category constructors
 */
export const runMain = <A, E>(main: Layer.Layer<A, E> | Effect.Effect<A, E>, options?: RunOptions): void =>
  NodeRuntime.runMain(program(main, options), { teardown, disableErrorReporting: true })
