/**
 * node-redis errors, classified once into the port's `EventLogError`.
 *
 * Retryable: connection loss and timeouts (socket closed, connect / command / socket timeouts, client offline,
 * reconnect strategy gave up, Node socket errors `E*`), and server replies that mean "busy, try again"
 * (`LOADING`, `BUSY`, `TRYAGAIN`, `MASTERDOWN`, `CLUSTERDOWN`, `READONLY`, `NOREPLICAS`, `OOM`).
 * Not retryable: every other server reply (`WRONGTYPE`, `NOGROUP`, syntax errors, …) and a closed client.
 *
 * @remarks Does not retry.
 */
import { EventLog } from "@agg/core"
import {
  ClientOfflineError,
  ConnectionTimeoutError,
  ErrorReply,
  MultiErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError
} from "redis"

const BUSY_REPLIES = ["LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "READONLY", "NOREPLICAS", "OOM"]

/** Whether a node-redis error means "try again later". */
export const isRetryable = (cause: unknown): boolean => {
  if (
    cause instanceof SocketClosedUnexpectedlyError ||
    cause instanceof ConnectionTimeoutError ||
    cause instanceof SocketTimeoutError ||
    cause instanceof TimeoutError ||
    cause instanceof ClientOfflineError ||
    cause instanceof ReconnectStrategyError
  ) {
    return true
  }
  if (cause instanceof ErrorReply) {
    // MULTI/EXEC: retryable only if every failed command's reply is.
    const replies = cause instanceof MultiErrorReply ? [...cause.errors()] : [cause]
    return replies.length > 0 && replies.every((r) => BUSY_REPLIES.some((p) => r.message.startsWith(p)))
  }
  const code = (cause as { readonly code?: unknown } | null | undefined)?.code
  return typeof code === "string" && /^E[A-Z]+$/.test(code)
}

// Replies that mean the credentials of REDIS_URL are wrong or missing.
const AUTH_REPLIES = ["WRONGPASS", "NOAUTH", "NOPERM", "ERR invalid password", "ERR AUTH"]

/**
 * Why the log cannot start until REDIS_URL is fixed, or undefined when the failure may pass by itself (the
 * server is down, loading, or not resolvable yet). Never quotes the URL (it may hold a password).
 */
export const startProblem = (error: EventLog.EventLogError): string | undefined => {
  const cause = error.cause instanceof ReconnectStrategyError ? error.cause.originalError : error.cause
  if (cause instanceof ErrorReply && AUTH_REPLIES.some((p) => cause.message.startsWith(p))) {
    return `REDIS_URL: Redis refused the credentials (${cause.message.split(" ")[0]}): check the password (and user) in REDIS_URL`
  }
  if (cause instanceof TypeError && /url/i.test(cause.message)) return "REDIS_URL: not a valid Redis URL"
  return undefined
}

/** Wrap a node-redis error as the port's error, classified. */
export const toEventLogError = (operation: string, cause: unknown): EventLog.EventLogError =>
  cause instanceof EventLog.EventLogError
    ? cause
    : new EventLog.EventLogError({
        operation,
        retryable: isRetryable(cause),
        message: `${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
