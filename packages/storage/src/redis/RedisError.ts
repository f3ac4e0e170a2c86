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
