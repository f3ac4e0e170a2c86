export * from "./Event.ts"
export * from "./Limits.ts"
