/**
 * @agg/publisher as a library: the typed HTTP client (publish with safe retries, stats, events paging) and the
 * deterministic load generator. Importing it does not load Effect; the CLI lives in bin.ts.
 */
export * from "./Client.ts"
export * from "./Generator.ts"
