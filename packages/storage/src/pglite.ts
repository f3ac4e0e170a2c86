/**
 * @agg/storage/pglite: the embedded `EventStore` on PGlite, apart from "@agg/storage" so that a process on
 * PostgreSQL and Redis never loads PGlite.
 */
export * from "./postgres/Pglite.ts"
