export * as Env from "./Env.ts"
export * as Log from "./Log.ts"
export * as Main from "./Main.ts"
export * as Metrics from "./Metrics.ts"
