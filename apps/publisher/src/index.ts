/**
 * @agg/publisher as a library: the deterministic load generator (the HTTP client is @agg/client). Importing it does not load Effect; the CLI lives in bin.ts.
 */
export * from "./Generator.ts"
