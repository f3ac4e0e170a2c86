/**
 * Every error the API answers with, and the one table mapping its `_tag` to an HTTP status and a stable `code`
 * (listed in the README). Bodies are always `{"error": {"code", "message", "issues"?, "issue_count"?}}`: the
 * message is written for the client and never carries a stack trace, a driver message or other internals.
 *
 * Does not log and does not decide when an error happens; routes raise these, `Server` renders them.
 */
import type { EventLog, EventStore, Ingest } from "@agg/core"
import type { Problem } from "@agg/schema"
import { Data } from "effect"

/** The body could not be read as JSON (syntax, invalid UTF-8, too deeply nested, unpaired surrogates). */
export class MalformedBody extends Data.TaggedError("MalformedBody")<{
  readonly message: string
  readonly issues?: ReadonlyArray<Problem>
}> {}
/** The body is JSON but not a valid publish body; the first problems are listed, `issueCount` counts them all. */
export class InvalidEvents extends Data.TaggedError("InvalidEvents")<{
  readonly message: string
  readonly issues: ReadonlyArray<Problem>
  readonly issueCount: number
}> {}
/** The batch holds no event. */
export class EmptyBatch extends Data.TaggedError("EmptyBatch")<{ readonly message: string }> {}
/** The batch holds more events than allowed. */
export class TooManyEvents extends Data.TaggedError("TooManyEvents")<{ readonly message: string }> {}
/** The body is larger than allowed (announced by Content-Length or counted while reading). */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly message: string }> {}
/** The client went away or sent a broken body stream. */
export class BodyAborted extends Data.TaggedError("BodyAborted")<{ readonly message: string }> {}
/** The request's Content-Type is not JSON. */
export class UnsupportedMediaType extends Data.TaggedError("UnsupportedMediaType")<{ readonly message: string }> {}
/** API keys are configured and the bearer token is missing or wrong. */
export class Unauthorized extends Data.TaggedError("Unauthorized")<{ readonly message: string }> {}
/** Bad GET /events query parameters. */
export class InvalidQuery extends Data.TaggedError("InvalidQuery")<{
  readonly message: string
  readonly issues: ReadonlyArray<Problem>
}> {}
/** No route has this path. */
export class RouteNotFound extends Data.TaggedError("RouteNotFound")<{ readonly message: string }> {}
/** The path exists, the method does not. */
export class MethodNotAllowed extends Data.TaggedError("MethodNotAllowed")<{
  readonly message: string
  readonly allow: ReadonlyArray<string>
}> {}
/** The store or the stream cannot take or serve the request now; the client should retry after `retryAfter` s. */
export class ServiceUnavailable extends Data.TaggedError("ServiceUnavailable")<{
  readonly message: string
  readonly code: "unavailable" | "overloaded" | "shutting_down"
  readonly retryAfter: number
  /** For the log only, never sent: the dependency's failure with its driver causes. */
  readonly detail?: string
}> {}
/** A valid key that may not do this: redrive and discard need an admin key (`ADMIN_API_KEYS`). */
export class Forbidden extends Data.TaggedError("Forbidden")<{ readonly message: string }> {}
/** No stored event has this `(topic, event_id)`. */
export class EventNotFound extends Data.TaggedError("EventNotFound")<{ readonly message: string }> {}
/** No dead letter has this id (never was, or already redriven or discarded). */
export class DeadLetterNotFound extends Data.TaggedError("DeadLetterNotFound")<{ readonly message: string }> {}
/** Embedded (direct) mode: there is no stream, hence no dead letters to redrive or discard. */
export class NoDeadLetterStream extends Data.TaggedError("NoDeadLetterStream")<{ readonly message: string }> {}
/** The body is JSON but not what the route takes (e.g. a redrive body without `ids` or `all`). */
export class InvalidBody extends Data.TaggedError("InvalidBody")<{
  readonly message: string
  readonly issues: ReadonlyArray<Problem>
}> {}
/** A failure that is our fault (a bug, or a dependency refusing a value we should have refused). */
export class InternalError extends Data.TaggedError("InternalError")<{
  readonly message: string
  /** For the log only, never sent: the dependency's failure with its driver causes. */
  readonly detail?: string
}> {}

/** @category errors */
export type HttpError =
  | MalformedBody
  | InvalidEvents
  | EmptyBatch
  | TooManyEvents
  | BodyTooLarge
  | BodyAborted
  | UnsupportedMediaType
  | Unauthorized
  | InvalidQuery
  | RouteNotFound
  | MethodNotAllowed
  | ServiceUnavailable
  | InternalError
  | Forbidden
  | EventNotFound
  | DeadLetterNotFound
  | NoDeadLetterStream
  | InvalidBody

/** The table: `_tag` → status and stable code (ServiceUnavailable carries its own code). @category models */
export const httpErrors: { readonly [Tag in HttpError["_tag"]]: { readonly status: number; readonly code: string } } = {
  MalformedBody: { status: 400, code: "malformed_json" },
  InvalidEvents: { status: 400, code: "invalid_events" },
  EmptyBatch: { status: 400, code: "empty_batch" },
  TooManyEvents: { status: 413, code: "too_many_events" },
  BodyTooLarge: { status: 413, code: "body_too_large" },
  BodyAborted: { status: 400, code: "body_aborted" },
  UnsupportedMediaType: { status: 415, code: "unsupported_media_type" },
  Unauthorized: { status: 401, code: "unauthorized" },
  InvalidQuery: { status: 400, code: "invalid_query" },
  RouteNotFound: { status: 404, code: "not_found" },
  MethodNotAllowed: { status: 405, code: "method_not_allowed" },
  ServiceUnavailable: { status: 503, code: "unavailable" },
  InternalError: { status: 500, code: "internal_error" },
  Forbidden: { status: 403, code: "admin_key_required" },
  EventNotFound: { status: 404, code: "event_not_found" },
  DeadLetterNotFound: { status: 404, code: "dead_letter_not_found" },
  NoDeadLetterStream: { status: 404, code: "no_dead_letter_stream" },
  InvalidBody: { status: 400, code: "invalid_body" }
}

/** The rendered error: status, extra headers and the JSON body. @category models */
export interface ErrorReply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: {
    readonly error: {
      readonly code: string
      readonly message: string
      readonly issues?: ReadonlyArray<Problem>
      readonly issue_count?: number
    }
  }
}

/** Render an error by the table. @category constructors */
export const toErrorReply = (error: HttpError): ErrorReply => {
  const { status, code } = httpErrors[error._tag]
  const issues = "issues" in error && error.issues !== undefined ? { issues: error.issues } : {}
  const count = error._tag === "InvalidEvents" ? { issue_count: error.issueCount } : {}
  switch (error._tag) {
    case "ServiceUnavailable":
      return {
        status,
        headers: { "retry-after": String(error.retryAfter) },
        body: { error: { code: error.code, message: error.message } }
      }
    case "MethodNotAllowed":
      return { status, headers: { allow: error.allow.join(", ") }, body: { error: { code, message: error.message } } }
    case "Unauthorized":
      return {
        status,
        headers: { "www-authenticate": 'Bearer realm="agg"' },
        body: { error: { code, message: error.message } }
      }
    default:
      return { status, headers: {}, body: { error: { code, message: error.message, ...issues, ...count } } }
  }
}

/** A failure and the causes under it ("a <- b <- c"), for the log: the port's message and the driver's own. */
const causeChain = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const message = current instanceof Error ? current.message : String(current)
    if (!parts.some((p) => p.includes(message))) parts.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return parts.join(" <- ")
}

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 1

/**
 * A failure of the core or a port, as an HTTP error: retryable ones (overload, connection loss, shutdown) are 503
 * with Retry-After; the others are 500, since valid input never makes a healthy dependency refuse. The port's
 * message and the driver's causes under it (`detail`) are logged, never sent.
 * @category constructors
 */
export const fromDependency = (
  error: Ingest.IngestError | EventStore.EventStoreError | EventLog.EventLogError
): ServiceUnavailable | InternalError => {
  if (error._tag === "IngestError") {
    if (error.reason === "Overloaded") {
      return new ServiceUnavailable({
        code: "overloaded",
        message: "too many events are waiting to be committed; retry later",
        retryAfter: RETRY_AFTER_SECONDS
      })
    }
    if (error.reason === "Closed") {
      return new ServiceUnavailable({
        code: "shutting_down",
        message: "the service is shutting down; retry later",
        retryAfter: RETRY_AFTER_SECONDS
      })
    }
  }
  if (error.retryable) {
    const what = error._tag === "EventLogError" ? "the event stream" : "the event store"
    return new ServiceUnavailable({
      code: "unavailable",
      message:
        error._tag === "IngestError" ? "storage is unavailable; retry later" : `${what} is unavailable; retry later`,
      retryAfter: RETRY_AFTER_SECONDS,
      detail: causeChain(error)
    })
  }
  return new InternalError({ message: "internal error", detail: causeChain(error) })
}
