/**
 * @agg/core: the idempotent-consumer core. Ports (`EventStore`, `EventLog`), the pure logic a store implementation
 * reuses (`CommitPlan` over `Dedup` and `ContentHash`), where events and consumers meet in a partitioned log
 * (`Partitioning`), the stats arithmetic (`Stats`) and the programs (`Ingest`, `Consumer`, `GracefulStop`,
 * `GroupCommit`). No I/O library is imported anywhere in this package; in-memory implementations of the ports live
 * in "@agg/core/memory".
 */
export * as CommitPlan from "./CommitPlan.ts"
export * as CommitSignal from "./CommitSignal.ts"
export * as Consumer from "./Consumer.ts"
export * as ContentHash from "./ContentHash.ts"
export * as Dedup from "./Dedup.ts"
export * as EventLog from "./EventLog.ts"
export * as EventStore from "./EventStore.ts"
export * as GracefulStop from "./GracefulStop.ts"
export * as GroupCommit from "./GroupCommit.ts"
export * as Ingest from "./Ingest.ts"
export * as Partitioning from "./Partitioning.ts"
export * as Stats from "./Stats.ts"
export * as Tail from "./Tail.ts"
