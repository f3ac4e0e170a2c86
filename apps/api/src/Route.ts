/**
 * What a route is: method, exact path, whether it needs the bearer token, and a handler that turns the request
 * into a `Reply` (an Effect, so handlers use the core services). Plus the reply constructors routes share.
 *
 * Deliberately tiny: exact paths only (the API has no path parameters), no middleware chain. Matching, auth,
 * body reading, error rendering, logging and metrics happen once in `Server.ts`.
 */
import type { IncomingMessage } from "node:http"
import type { Effect } from "effect"
import type { HttpError } from "./HttpErrors.ts"

/** The request as a handler sees it. @category models */
export interface RequestContext {
  readonly request: IncomingMessage
  /** Path without the query string. */
  readonly path: string
  /** The raw query string, without "?" ("" when absent). */
  readonly query: string
  readonly requestId: string
  /** The whole body, for routes that declare `body` (empty otherwise). */
  readonly body: Buffer
}

/** An answer: status, headers (content-type included) and body. @category models */
export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Buffer
}

/** @category models */
export interface Route<R> {
  readonly method: "GET" | "POST"
  readonly path: string
  /** Whether API keys (when configured) apply to this route. */
  readonly auth: boolean
  /**
   * Read the body before the handler runs: at most `maxBytes` (413 beyond), after `precheck` (e.g. 415 for a
   * wrong Content-Type) found nothing wrong.
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
