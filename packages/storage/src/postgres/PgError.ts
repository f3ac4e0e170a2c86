/**
 * Driver errors of node-postgres and PGlite, classified once into the port's `EventStoreError`, so nothing above
 * the adapter ever looks at SQLSTATE codes or socket errors.
 *
 * Retryable (nothing was committed, a later attempt can succeed): connection loss (Node socket errors `E*`,
 * node-postgres "Connection terminated", pool connect timeouts), SQLSTATE class `08` (connection exception),
 * `40001` serialization failure, `40P01` deadlock, `57P01` admin shutdown / terminated backend, plus `57P02`,
 * `57P03` (crash / cannot connect now) and `53300` (too many connections). Everything else is not.
 *
 * @remarks Does not retry: the caller decides (the worker leaves the entries pending, the API answers 503).
 */
import { EventStore } from "@agg/core"

const RETRYABLE_SQLSTATES = new Set(["40001", "40P01", "57P01", "57P02", "57P03", "53300"])

// node-postgres raises these without a code when the socket goes away or the pool cannot connect in time.
const CONNECTION_LOSS_MESSAGES = [
  "connection terminated",
  "client has encountered a connection error",
  "timeout exceeded when trying to connect",
  "connection timeout",
  "cannot use a pool after calling end"
]

const codeOf = (cause: unknown): string | undefined => {
  const code = (cause as { readonly code?: unknown } | null | undefined)?.code
  return typeof code === "string" ? code : undefined
}

/** Whether a driver error means "try again later". */
export const isRetryable = (cause: unknown): boolean => {
  const code = codeOf(cause)
  if (code !== undefined) {
    if (RETRYABLE_SQLSTATES.has(code) || code.startsWith("08")) return true
    // Node system errors: ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT, EHOSTUNREACH, ...
    if (/^E[A-Z]+$/.test(code)) return true
    return false
  }
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
