/**
 * The one way to declare a route: method, path (Fastify's syntax: `/events/:topic/:event_id` names two path
 * parameters), whether it needs the bearer token, the body it reads, and a handler that turns the request into
 * a `Reply` (an Effect, so handlers use the core services). Plus the reply constructors routes share.
 *
 * Deliberately no Fastify types here and no middleware chain: `Server.ts` registers every route on Fastify and
 * does matching, HEAD, 404/405, auth, body reading, error rendering, logging and metrics once for all of them.
 */
import type { IncomingMessage } from "node:http"
import type { PassThrough } from "node:stream"
import type { Effect } from "effect"
import type { HttpError } from "./HttpErrors.ts"

/** The request as a handler sees it. @category models */
export interface RequestContext {
  readonly request: IncomingMessage
  /** Path without the query string. */
  readonly path: string
  /** The path parameters of the route's path, decoded (`{}` without any). */
  readonly params: Readonly<Record<string, string>>
  /** The raw query string, without "?" ("" when absent). */
  readonly query: string
  readonly requestId: string
  /** The whole body, for routes that declare `body` (empty otherwise). */
  readonly body: Buffer
}

/**
 * An answer: status, headers (content-type included) and body. A `PassThrough` body is streamed for as long as
 * its writer keeps it open (the live tail); the server ends it when shutting down. @category models
 */
export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Buffer | PassThrough
}

/** @category models */
export interface Route<R> {
  /** GET routes answer HEAD too (same headers, no body). */
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  /** Matched exactly, except for `:name` segments (path parameters). */
  readonly path: string
  /** Whether API keys (when configured) apply to this route. */
  readonly auth: boolean
  /**
   * An operator's route (redrive, discard): when any keys are configured it needs an admin key
   * (`ADMIN_API_KEYS`); a valid ordinary key is refused with 403.
   */
  readonly admin?: boolean
  /**
   * Read the body before the handler runs: at most `maxBytes` (413 beyond), once auth passed and `precheck`
   * (e.g. 415 for a wrong Content-Type) found nothing wrong; both run before any byte of the body is read.
   */
  readonly body?: {
    readonly maxBytes: number
    readonly precheck?: (request: IncomingMessage) => HttpError | undefined
  }
  readonly handler: (context: RequestContext) => Effect.Effect<Reply, HttpError, R>
}

const JSON_TYPE = "application/json; charset=utf-8"

/** A JSON reply. @category constructors */
export const json = (status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): Reply => ({
  status,
  headers: { "content-type": JSON_TYPE, ...headers },
  body: JSON.stringify(value)
})

/** A reply with a given content type. @category constructors */
export const content = (
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: Readonly<Record<string, string>> = {}
): Reply => ({ status, headers: { "content-type": contentType, ...headers }, body })
