/**
 * @agg/api as a library, for benchmarks and other packages' tests: build the HTTP app without listening
 * (`makeApp`), bind it (`listen`), and run it on the in-memory ports (`memoryDirect`, `memoryQueued`).
 *
 * Deliberately not here: the process entry (configuration, PostgreSQL/Redis/PGlite wiring, signals), which is
 * main.ts and runs only as the app.
 */

export { memoryDirect, memoryQueued } from "./Layers.ts"
export {
  type App,
  type AppOptions,
  type AppServices,
  ListenError,
  type ListenOptions,
  listen,
  makeApp
} from "./Server.ts"
