/**
 * Driver errors of node-postgres and PGlite, classified once into the port's `EventStoreError`, so nothing above
 * the adapter ever looks at SQLSTATE codes or socket errors.
 *
 * The line is drawn by what the consumer does with the answer: a non-retryable commit failure is bisected until
 * the failing entry is alone, and that entry is dead-lettered. So only failures caused by the values of a batch
 * are non-retryable: SQLSTATE classes `21` (cardinality), `22` (data exception, e.g. a NUL in a JSON string),
 * `23` (integrity constraint) and `54` (program limit exceeded, e.g. an oversized row or batch: bisection then
 * commits the halves). Every other SQLSTATE is about the server or its setup and is retryable, so the entries
 * stay pending until it is fixed: `08` connection exception, `40` transaction rollback (`40001` serialization,
 * `40P01` deadlock), `53` insufficient resources, `57` operator intervention (shutdown, cancel, crash), `58`
 * system error, `XX` internal error, `28` invalid authorization, `3D` unknown database, `42` undefined table or
 * column / insufficient privilege (a schema not migrated, a wrong role), `55` object not in prerequisite state.
 * Errors without a SQLSTATE are retryable when they are connection loss (Node socket errors `E*`, node-postgres
 * "Connection terminated", pool connect timeouts, a closed pool or PGlite instance); any other is not.
 *
 * A connection lost during COMMIT is retryable although the outcome is unknown (the transaction may have
 * committed): the store records a batch's delivery ids in the same transaction, so a repeated commit of the same
 * deliveries is recognised (`Redelivered`) and counts nothing twice.
 *
 * @remarks Does not retry: the caller decides (the worker leaves the entries pending, the API answers 503).
 */
import { EventStore } from "@agg/core"

/** SQLSTATE classes (first two characters) whose errors depend on the batch's values. */
const DATA_CLASSES = new Set(["21", "22", "23", "54"])

const SQLSTATE = /^[0-9A-Z]{5}$/

// node-postgres, Kysely and PGlite raise these without a code when the connection goes away or is closed.
const CONNECTION_LOSS_MESSAGES = [
  "connection terminated",
  "client has encountered a connection error",
  "timeout exceeded when trying to connect",
  "connection timeout",
  "query read timeout",
  "cannot use a pool after calling end",
  "driver has already been destroyed",
  "pglite is closed"
]

const codeOf = (cause: unknown): string | undefined => {
  const code = (cause as { readonly code?: unknown } | null | undefined)?.code
  return typeof code === "string" ? code : undefined
}

/** Whether a driver error means "try again later" rather than "this batch's values are refused". */
export const isRetryable = (cause: unknown): boolean => {
  const code = codeOf(cause)
  // Node system errors: ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT, EHOSTUNREACH, ...
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return true
  if (code !== undefined && SQLSTATE.test(code)) return !DATA_CLASSES.has(code.slice(0, 2))
  const message = cause instanceof Error ? cause.message.toLowerCase() : ""
  return CONNECTION_LOSS_MESSAGES.some((m) => message.includes(m))
}

const describe = (cause: unknown): string => {
  const code = codeOf(cause)
  const message = cause instanceof Error ? cause.message : String(cause)
  return code === undefined ? message : `${message} (${code})`
}

/** Wrap a driver error as the port's error, classified. */
export const toEventStoreError = (operation: string, cause: unknown): EventStore.EventStoreError =>
  cause instanceof EventStore.EventStoreError
    ? cause
    : new EventStore.EventStoreError({
        operation,
        retryable: isRetryable(cause),
        message: `${operation} failed: ${describe(cause)}`,
        cause
      })
