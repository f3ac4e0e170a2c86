/**
 * Entry point of the API: read and validate the configuration, compose the live layers of the configured mode
 * (see `Layers`), serve until SIGTERM/SIGINT, then shut down gracefully and exit 0. JSON logs on stdout. A bad
 * variable stops the process at start with a message naming it (exit 1). Logging, exit codes and the fatal line
 * are `@agg/runtime`'s `Main.runMain`.
 */
import { Env, Main } from "@agg/runtime"
import { ConfigProvider, Effect, Layer } from "effect"
import * as ApiConfig from "./Config.ts"
import * as Layers from "./Layers.ts"
import * as Server from "./Server.ts"

const VERSION = "0.1.0"

const App = Layer.unwrap(
  Effect.gen(function* () {
    // API_KEYS="" (or ADMIN_API_KEYS="") is refused like API_KEYS=",", rather than read as unset (which would
    // serve without auth).
    const config = yield* ApiConfig.load.pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        Env.provider({ emptyIsValue: ["API_KEYS", "ADMIN_API_KEYS"] })
      )
    )
    return Server.layer({
      limits: config.limits,
      apiKeys: config.apiKeys,
      adminKeys: config.adminApiKeys,
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
Main.runMain(App, { stopped: "stopped: requests answered, group commit drained, connections closed" })
