/**
 * @agg/api as a library, for benchmarks and other packages' tests: build the HTTP app without listening
 * (`makeApp`), bind it (`listen`), and run it on the in-memory ports (`memoryDirect`, `memoryQueued`). The route
 * shape, the publish route and the pieces it is made of are exported too, so that the HTTP-layer benchmark can run
 * the very same handler on another framework.
 *
 * Deliberately not here: the process entry (configuration, PostgreSQL/Redis/PGlite wiring, signals), which is
 * main.ts and runs only as the app.
 */

export * as Body from "./Body.ts"
export * as HttpErrors from "./HttpErrors.ts"
export { memoryDirect, memoryQueued } from "./Layers.ts"
export * as Metrics from "./Metrics.ts"
export * as Route from "./Route.ts"
export * as Publish from "./routes/Publish.ts"
export {
  type App,
  type AppOptions,
  type AppServices,
  ListenError,
  type ListenOptions,
  listen,
  makeApp
} from "./Server.ts"
