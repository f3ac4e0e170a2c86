/**
 * The HTTP app on Fastify 5 (chosen by measurement: docs/http-layer.md). Fastify routes (exact paths and `:name`
 * path parameters, HEAD for every GET route), bounds how long headers and requests may take, and closes
 * gracefully; Effect runs the domain. Each request runs one Effect fiber with the app's services: the route's
 * handler, then error rendering by the `HttpErrors` table, the response (`x-request-id` echoed or made,
 * `x-content-type-options: nosniff`), the route's metrics series and a JSON access log line carrying the request
 * id. When keys are configured, auth comes first: before the body is read and before 404/405, so paths cannot be
 * probed without a key (/health stays open).
 *
 * Deliberately not Fastify's: JSON parsing, schema validation, logging and error bodies (always ours, from the
 * table). `makeApp` builds the instance without listening; `listen` binds it (port 0 in tests) and, when its
 * scope closes, shuts down gracefully: stop accepting, let in-flight requests finish (bounded), then close
 * connections. Layers released after it (the group commit, pools) therefore see no new work.
 */
import { randomUUID } from "node:crypto"
import type { AddressInfo } from "node:net"
import { PassThrough, type Writable } from "node:stream"
import { type EventStore, Ingest, type Tail } from "@agg/core"
import type { Limits } from "@agg/schema"
import { Cause, Clock, Context, Data, Effect, Fiber, Layer, type Redacted, References, type Scope } from "effect"
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify"
import { makeAuth } from "./Auth.ts"
import { collectBody, discardRest } from "./Body.ts"
import {
  BodyAborted,
  BodyTooLarge,
  Forbidden,
  type HttpError,
  InternalError,
  MethodNotAllowed,
  RouteNotFound,
  toErrorReply,
  Unauthorized,
  UnsupportedMediaType
} from "./HttpErrors.ts"
import { Metrics, type RouteSeries } from "./Metrics.ts"
import { makeOpenApi } from "./OpenApi.ts"
import type { Reply, Route } from "./Route.ts"
import { json } from "./Route.ts"
import * as Conflicts from "./routes/Conflicts.ts"
import * as Consumers from "./routes/Consumers.ts"
import * as Dashboard from "./routes/Dashboard.ts"
import * as DeadLetters from "./routes/DeadLetters.ts"
import * as Docs from "./routes/Docs.ts"
import * as Events from "./routes/Events.ts"
import * as Health from "./routes/Health.ts"
import * as Lookup from "./routes/Lookup.ts"
import * as MetricsRoute from "./routes/Metrics.ts"
import * as Publish from "./routes/Publish.ts"
import * as Stats from "./routes/Stats.ts"
import * as Stream from "./routes/Stream.ts"
import * as Topics from "./routes/Topics.ts"

/** What the app needs from the outside. @category models */
export interface AppOptions {
  readonly limits: Limits
  /** Bearer tokens accepted; empty: no auth. */
  readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
  /**
   * Bearer tokens that may also use the admin routes (redrive, discard) and pass every other guarded route. When
   * any key is configured, an admin route needs one of these: a valid ordinary key gets 403.
   */
  readonly adminKeys?: ReadonlyArray<Redacted.Redacted<string>>
  /** One Info log line per request. Errors (5xx) are logged regardless. */
  readonly accessLog: boolean
  /** Shown in the OpenAPI document. */
  readonly version?: string
  /** How often GET /events/stream sends a heartbeat comment; default 15,000 ms. */
  readonly heartbeatMs?: number
}

/** The services the routes use. @category models */
export type AppServices = Ingest.Ingest | EventStore.EventStore | Metrics | Tail.Tail

/** A built app: the Fastify instance, every route registered and ready, not listening. @category models */
export interface App {
  readonly fastify: FastifyInstance
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const EMPTY = Buffer.alloc(0)
const UNAUTHORIZED = "a valid bearer token is required (Authorization: Bearer <key>)"
const FORBIDDEN = "this route needs an admin key (ADMIN_API_KEYS)"

type Precheck = NonNullable<Route<AppServices>["body"]>["precheck"]

declare module "fastify" {
  interface FastifyContextConfig {
    /** Whether this route needs the bearer token (keys configured and the route guarded). */
    readonly keyed?: boolean
    /** Whether this route needs an admin key (an admin route, some key configured). */
    readonly admin?: boolean
  }
}

const pathOf = (url: string | undefined): string => {
  if (url === undefined) return "/"
  const q = url.indexOf("?")
  return q < 0 ? url : url.slice(0, q)
}

/** Build the app (routes, docs assets, OpenAPI document) with the services in context. @category constructors */
export const makeApp = Effect.fnUntraced(function* (options: AppOptions) {
  const context = yield* Effect.context<AppServices>()
  const metrics = yield* Metrics
  const ingest = yield* Ingest.Ingest
  const startedAtMs = yield* Clock.currentTimeMillis
  const adminKeys = options.adminKeys ?? []
  // Ordinary routes are guarded when API_KEYS is set, and admin keys pass them too; admin routes are guarded
  // when any key is set, and only admin keys pass them.
  const auth = makeAuth(options.apiKeys.length > 0 ? [...options.apiKeys, ...adminKeys] : [])
  const admins = makeAuth(adminKeys)
  const adminGuarded = auth.enabled || admins.enabled
  const openApi = makeOpenApi({ limits: options.limits, auth: adminGuarded, version: options.version ?? "0.0.0" })
  const all: ReadonlyArray<Route<AppServices>> = [
    ...Publish.routes(options.limits, ingest, metrics),
    ...Events.routes,
    ...Stream.routes(options.heartbeatMs ?? 15_000),
    ...Lookup.routes,
    ...Conflicts.routes,
    ...DeadLetters.routes(metrics),
    ...Stats.routes(startedAtMs),
    ...Topics.routes,
    ...Health.routes(ingest.mode),
    ...Consumers.routes,
    ...MetricsRoute.routes(startedAtMs),
    ...(yield* Docs.routes(openApi, auth.enabled)),
    ...(yield* Dashboard.routes(auth.enabled))
  ]

  let closing = false
  const fastify = Fastify({
    logger: false,
    // Our rule: a well-formed x-request-id is echoed, anything else is replaced by a fresh UUID.
    requestIdHeader: false,
    genReqId: (raw) => {
      const header = raw.headers["x-request-id"]
      return typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID()
    },
    // Bounded header and request reading: a slow client cannot hold a connection for ever.
    requestTimeout: 60_000,
    http: { headersTimeout: 20_000 },
    keepAliveTimeout: 5_000,
    // While closing, a request that still arrives on an open connection is served and told to close it, with our
    // error bodies, rather than refused with Fastify's own 503 body.
    return503OnClosing: false,
    // A path Fastify cannot decode matches no route: answered like any unknown path.
    frameworkErrors: (_error, request, reply) => notFound(request, reply)
  })
  // Streaming answers (the live tail) never finish by themselves: end them when closing, so the graceful
  // shutdown need not wait for its timeout (their clients reconnect to another instance, or to this one later).
  const streams = new Set<Writable>()
  fastify.addHook("preClose", (done) => {
    closing = true
    for (const stream of streams) stream.end()
    done()
  })
  // Fastify reads no body: a route that takes one reads it in its handler (`Body.collectBody`), after auth and
  // the precheck, so a refused request costs no read and an oversized body is drained, not reset, after the 413
  // (Fastify's bodyLimit answers 413 by closing the connection, which a client still sending sees as a reset).
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined))

  // A request fiber's context: the app's plus `request_id` among the log annotations (one copy, no annotate step).
  const baseAnnotations = Context.get(context, References.CurrentLogAnnotations)
  const known = new Set(fastify.supportedMethods)
  // Unknown paths share a few series; arbitrary method names are not used as labels.
  const labelOf = (method: string) => (known.has(method) ? method : "OTHER")

  // One fiber per request, started once the body (if any) is in: handler, error rendering, response, metrics, log.
  // The fiber starts with the request id among its log annotations (no annotateLogs step), and nothing awaits it:
  // the fewer steps, the cheaper a request.
  const respond = (
    request: FastifyRequest,
    reply: FastifyReply,
    series: RouteSeries,
    started: number,
    effect: Effect.Effect<Reply, HttpError, AppServices>
  ): void => {
    const requestId = request.id
    const annotations = { ...baseAnnotations, request_id: requestId }
    Effect.runForkWith(Context.add(context, References.CurrentLogAnnotations, annotations))(
      Effect.flatMap(Effect.catchCause(effect, renderFailure), (answer) => {
        if (answer.body instanceof PassThrough) {
          const stream = answer.body
          streams.add(stream)
          stream.once("close", () => streams.delete(stream))
          if (closing) stream.end()
        }
        write(reply, answer, requestId, closing)
        const seconds = (performance.now() - started) / 1000
        series.record(answer.status, seconds)
        return options.accessLog || answer.status >= 500
          ? Effect.annotateLogs(Effect.logInfo("request"), {
              method: request.method,
              path: pathOf(request.raw.url),
              status: answer.status,
              duration_ms: Math.round(seconds * 10_000) / 10
            })
          : Effect.void
      })
    )
  }
  const refuse = (request: FastifyRequest, reply: FastifyReply, series: RouteSeries, error: HttpError) =>
    respond(request, reply, series, performance.now(), Effect.fail(error))
  const authorized = (request: FastifyRequest) => auth.check(request.headers.authorization)

  // Auth (when the route is guarded), then the route's precheck: the refusal, or undefined. Run by the handler,
  // before any byte of the body is read (Fastify reads none: see the content-type parser above), so no hook runs.
  // An admin route: an admin key passes, a valid ordinary key is forbidden (403), anything else unauthorized.
  const refusal = (
    request: FastifyRequest,
    keyed: boolean,
    precheck: Precheck | undefined,
    admin = false
  ): HttpError | undefined => {
    if (admin) {
      const header = request.headers.authorization
      if (admins.enabled && admins.check(header)) return precheck?.(request.raw)
      return auth.enabled && auth.check(header)
        ? new Forbidden({ message: FORBIDDEN })
        : new Unauthorized({ message: UNAUTHORIZED })
    }
    return keyed && !authorized(request) ? new Unauthorized({ message: UNAUTHORIZED }) : precheck?.(request.raw)
  }

  const register = (route: Route<AppServices>) => {
    const series = metrics.series(route.path, route.method)
    const head = metrics.series(route.path, "HEAD")
    const admin = route.admin === true && adminGuarded
    const keyed = (route.auth && auth.enabled) || admin
    const body = route.body
    fastify.route({
      method: route.method,
      url: route.path,
      config: { keyed, admin },
      // Not async: the reply is sent from the request's fiber.
      handler: (request, reply) => {
        const started = performance.now()
        const s = request.method === "HEAD" ? head : series
        const refused = refusal(request, keyed, body?.precheck, admin)
        if (refused !== undefined) return respond(request, reply, s, started, Effect.fail(refused))
        const url = request.raw.url ?? "/"
        const q = url.indexOf("?")
        const requestContext = {
          request: request.raw,
          path: q < 0 ? url : url.slice(0, q),
          params: request.params as Readonly<Record<string, string>>,
          query: q < 0 ? "" : url.slice(q + 1),
          requestId: request.id,
          body: EMPTY
        }
        if (body === undefined) return respond(request, reply, s, started, route.handler(requestContext))
        collectBody(request.raw, body.maxBytes, (read) =>
          respond(
            request,
            reply,
            s,
            started,
            Buffer.isBuffer(read) ? route.handler({ ...requestContext, body: read }) : Effect.fail(read)
          )
        )
      }
    })
  }

  // Each path: its routes, then one route answering 405 (with Allow) for every other method Fastify knows.
  const byPath = new Map<string, Array<Route<AppServices>>>()
  for (const route of all) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route])
  for (const [path, routes] of byPath) {
    for (const route of routes) register(route)
    const allow = routes.flatMap((r) => (r.method === "GET" ? ["GET", "HEAD"] : [r.method]))
    const keyed = routes.some((r) => r.auth) && auth.enabled
    fastify.route({
      method: fastify.supportedMethods.filter((m) => !allow.includes(m)),
      url: path,
      config: { keyed },
      handler: (request, reply) => {
        const message = `${request.method} is not allowed on ${path.slice(0, 200)} (allowed: ${allow.join(", ")})`
        const error = refusal(request, keyed, undefined) ?? new MethodNotAllowed({ message, allow })
        refuse(request, reply, metrics.series(path, labelOf(request.method)), error)
      }
    })
  }

  // Unknown paths need the key too (when configured), so a client without one learns nothing about the routes.
  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    const series = metrics.series("unmatched", labelOf(request.method))
    const path = pathOf(request.raw.url)
    const error = authorized(request)
      ? new RouteNotFound({ message: `no route for ${path.slice(0, 200)}` })
      : new Unauthorized({ message: UNAUTHORIZED })
    refuse(request, reply, series, error)
  }
  fastify.setNotFoundHandler(notFound)
  // Only Fastify's own refusals reach this (handlers never throw): a Content-Type header it cannot parse, which
  // it checks before the handler runs; auth still comes first.
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    if (request.is404) return notFound(request, reply)
    const route = request.routeOptions
    const series = metrics.series(route.url ?? "unmatched", labelOf(request.method))
    const refused = refusal(request, route.config.keyed === true, undefined, route.config.admin === true)
    refuse(request, reply, series, refused ?? fromFastify(error))
  })

  yield* Effect.promise(() => fastify.ready())
  return { fastify } satisfies App
})

const fromFastify = (error: FastifyError): HttpError => {
  const status = error.statusCode ?? 500
  if (status === 415) return new UnsupportedMediaType({ message: "the Content-Type header cannot be parsed" })
  if (status === 413) return new BodyTooLarge({ message: "the request body is too large" })
  if (status >= 400 && status < 500) return new BodyAborted({ message: "the request body could not be read" })
  return new InternalError({ message: "internal error" })
}

// The driver-level cause of a 5xx, logged beside the client's message.
const detailOf = (error: HttpError): Record<string, string> =>
  "detail" in error && error.detail !== undefined ? { cause: error.detail } : {}

// Typed errors are rendered by the table; anything else (a defect, an interruption) is logged and becomes a
// bare 500, so no stack or message of ours reaches the client.
const renderFailure = (cause: Cause.Cause<HttpError>): Effect.Effect<Reply> => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) {
    const reply = toErrorReply(failure.error)
    return reply.status >= 500
      ? Effect.logError("request failed", failure.error.message).pipe(
          Effect.annotateLogs(detailOf(failure.error)),
          Effect.as(json(reply.status, reply.body, reply.headers))
        )
      : Effect.succeed(json(reply.status, reply.body, reply.headers))
  }
  const reply = toErrorReply(new InternalError({ message: "internal error" }))
  return Effect.logError("request failed with a defect", cause).pipe(
    Effect.as(json(reply.status, reply.body, reply.headers))
  )
}

// Fastify computes Content-Length and, for HEAD, drops the body but keeps the headers.
const write = (reply: FastifyReply, answer: Reply, requestId: string, closing: boolean) => {
  if (reply.sent || reply.raw.destroyed) return
  const headers: Record<string, string> = {
    ...answer.headers,
    "x-request-id": requestId,
    "x-content-type-options": "nosniff"
  }
  // Answered before the body was read (401, 413 on Content-Length, 415, …): the rest of it is unwanted. Close
  // the connection after the answer, reading at most a small bound of what the client still sends.
  const request = reply.request.raw
  const unread = !request.complete
  if (closing || unread) headers["connection"] = "close"
  reply.code(answer.status).headers(headers).send(answer.body)
  if (unread) reply.raw.once("finish", () => discardRest(request))
}

/** The port could not be bound. @category errors */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/** Options of `listen`. @category models */
export interface ListenOptions {
  readonly port: number
  readonly host: string
  /** How long shutdown waits for in-flight requests before closing connections. */
  readonly shutdownTimeoutMs: number
}

/**
 * Serve the app on `port`/`host` (0: any free port) for as long as the scope lives; closing the scope stops
 * accepting, waits for in-flight requests (at most `shutdownTimeoutMs`), then closes every connection.
 * @category constructors
 */
export const listen = (app: App, options: ListenOptions): Effect.Effect<AddressInfo, ListenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => app.fastify.listen({ port: options.port, host: options.host }),
      catch: (cause) =>
        new ListenError({
          message: `cannot listen on ${options.host}:${options.port}: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    }).pipe(Effect.map(() => app.fastify.server.address() as AddressInfo)),
    () =>
      Effect.gen(function* () {
        // close() stops accepting and ends idle keep-alive connections; a busy one ends after its answer (sent with
        // Connection: close from now on), and close() completes once no connection is left.
        const closed = yield* Effect.forkChild(Effect.promise(() => app.fastify.close()))
        const drained = yield* Fiber.join(closed).pipe(Effect.timeoutOption(options.shutdownTimeoutMs))
        if (drained._tag === "None") {
          yield* Effect.logWarning("requests still in flight after the shutdown timeout; closing their connections")
          app.fastify.server.closeAllConnections()
          yield* Fiber.join(closed)
        }
        yield* Effect.logInfo("HTTP server closed")
      })
  )

/** Options of `layer`: the app's and the listener's. @category models */
export interface ServerOptions extends AppOptions, ListenOptions {
  /** Logged at start, e.g. "PGlite in ./.data". */
  readonly dataLocation: string
}

/**
 * Build and serve the app for the layer's lifetime, logging where it listens, the mode, the data location,
 * whether auth is on and the docs URL. @category layers
 */
export const layer = (options: ServerOptions): Layer.Layer<never, ListenError, AppServices> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const app = yield* makeApp(options)
      const address = yield* listen(app, options)
      const host = options.host === "0.0.0.0" || options.host === "::" ? "localhost" : options.host
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
      const ingest = yield* Ingest.Ingest
      const mode = ingest.mode
      yield* Effect.logInfo("listening").pipe(
        Effect.annotateLogs({
          url,
          docs: `${url}/docs`,
          mode,
          data: options.dataLocation,
          auth: options.apiKeys.length > 0 ? "on" : "off",
          bind: `${address.address}:${address.port}`
        })
      )
      // Registered after `listen`, so it runs first when the scope closes.
      yield* Effect.addFinalizer(() =>
        Effect.logInfo("shutting down: no new connections, finishing requests in flight")
      )
    })
  )
