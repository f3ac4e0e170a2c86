/**
 * In-memory implementations of the ports, for tests and for embedding: same semantics as the PostgreSQL and Redis
 * adapters, no durability. Kept out of the main entry point so production code never pulls them in by accident.
 */
export * as MemoryEventLog from "./memory/MemoryEventLog.ts"
export * as MemoryEventStore from "./memory/MemoryEventStore.ts"
