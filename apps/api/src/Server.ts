/**
 * The HTTP app: a lean `node:http` request listener with an exact-path route table, chosen by measurement
 * (bench/src/http/compare.ts, one-event POSTs, parse-only servers: Effect's HttpRouter + NodeHttpServer ran at
 * 65–70% of bare node:http, Fastify at 95–110% but adds a framework whose body limits and error bodies we would
 * override anyway). Routing five exact paths needs no framework; Effect runs the domain, not the socket.
 * Each request runs one Effect fiber with the app's services: the route's handler, then error rendering by the
 * `HttpErrors` table, the response, metrics and a JSON access log line carrying the request id (echoed in
 * `x-request-id`). Unknown path: 404; known path, other method: 405; auth (when keys are configured) before
 * the handler.
 *
 * `makeApp` builds the listener without listening; `listen` binds it (port 0 in tests) and, when its scope
 * closes, shuts down gracefully: stop accepting, let in-flight requests finish (bounded), then close
 * connections. Layers released after it (the group commit, pools) therefore see no new work.
 */
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { type EventStore, Ingest } from "@agg/core"
import type { Limits } from "@agg/schema"
import { Cause, Clock, Context, Data, Effect, Fiber, Layer, type Redacted, References, type Scope } from "effect"
import { makeAuth } from "./Auth.ts"
import { collectBody } from "./Body.ts"
import {
  type HttpError,
  InternalError,
  MethodNotAllowed,
  RouteNotFound,
  toErrorReply,
  Unauthorized
} from "./HttpErrors.ts"
import { Metrics, type RouteSeries } from "./Metrics.ts"
import { makeOpenApi } from "./OpenApi.ts"
import type { Reply, RequestContext, Route } from "./Route.ts"
import { json } from "./Route.ts"
import * as Docs from "./routes/Docs.ts"
import * as Events from "./routes/Events.ts"
import * as Health from "./routes/Health.ts"
import * as MetricsRoute from "./routes/Metrics.ts"
import * as Publish from "./routes/Publish.ts"
import * as Stats from "./routes/Stats.ts"

/** What the app needs from the outside. @category models */
export interface AppOptions {
  readonly limits: Limits
  /** Bearer tokens accepted; empty: no auth. */
  readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
  /** One Info log line per request. Errors (5xx) are logged regardless. */
  readonly accessLog: boolean
  /** Shown in the OpenAPI document. */
  readonly version?: string
}

/** The services the routes use. @category models */
export type AppServices = Ingest.Ingest | EventStore.EventStore | Metrics

/** A built app: the node:http listener and a way to wait until no request is in flight. @category models */
export interface App {
  readonly listener: (request: Http.IncomingMessage, response: Http.ServerResponse) => void
  /** Completes once no request is in flight (at once when idle). */
  readonly idle: Effect.Effect<void>
  /** From now on every response asks the client to close its connection (used while shutting down). */
  readonly startDraining: () => void
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const EMPTY = Buffer.alloc(0)
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])

/** Build the app (route table, docs assets, OpenAPI document) with the services in context. @category constructors */
export const makeApp = Effect.fnUntraced(function* (options: AppOptions) {
  const context = yield* Effect.context<AppServices>()
  const metrics = yield* Metrics
  const ingest = yield* Ingest.Ingest
  const mode = ingest.mode
  const startedAtMs = yield* Clock.currentTimeMillis
  const auth = makeAuth(options.apiKeys)
  const openApi = makeOpenApi({ limits: options.limits, auth: auth.enabled, version: options.version ?? "0.0.0" })
  const all: ReadonlyArray<Route<AppServices>> = [
    ...Publish.routes(options.limits, ingest, metrics),
    ...Events.routes,
    ...Stats.routes(startedAtMs),
    ...Health.routes(mode),
    ...MetricsRoute.routes(startedAtMs),
    ...(yield* Docs.routes(openApi))
  ]
  // path → method → route and its metrics series (looked up once here, not per request)
  const table = new Map<string, Map<string, { route: Route<AppServices>; series: RouteSeries }>>()
  for (const route of all) {
    const methods = table.get(route.path) ?? new Map()
    table.set(route.path, methods)
    methods.set(route.method, { route, series: metrics.series(route.path, route.method) })
  }
  // Unknown paths and methods share a few series; arbitrary method names are not used as labels.
  const unmatched = (path: string, method: string | undefined) =>
    metrics.series(path, method !== undefined && KNOWN_METHODS.has(method) ? method : "OTHER")

  // A request fiber's context: the app's plus `request_id` among the log annotations (one copy, no annotate step).
  const baseAnnotations = Context.get(context, References.CurrentLogAnnotations)
  const withRequestId = (requestId: string) =>
    Context.add(context, References.CurrentLogAnnotations, { ...baseAnnotations, request_id: requestId })
  const run = <A, E>(effect: Effect.Effect<A, E, AppServices>, requestContext: Context.Context<AppServices>) =>
    Effect.runForkWith(requestContext)(effect)
  let inFlight = 0
  let draining = false
  let waiters: Array<() => void> = []
  const done = () => {
    inFlight--
    if (inFlight === 0 && waiters.length > 0) {
      const wake = waiters
      waiters = []
      for (const w of wake) w()
    }
  }

  // The route for this request, or the error that answers it instead.
  const resolveRoute = (
    request: Http.IncomingMessage,
    path: string
  ): { readonly series: RouteSeries; readonly route?: Route<AppServices>; readonly error?: HttpError } => {
    const methods = table.get(path)
    if (methods === undefined) {
      const error = new RouteNotFound({ message: `no route for ${path.slice(0, 200)}` })
      return { series: unmatched("unmatched", request.method), error }
    }
    const entry = methods.get(request.method ?? "")
    if (entry === undefined) {
      const allow = [...methods.keys()]
      const message = `${request.method} is not allowed on ${path.slice(0, 200)} (allowed: ${allow.join(", ")})`
      return { series: unmatched(path, request.method), error: new MethodNotAllowed({ message, allow }) }
    }
    if (entry.route.auth && !auth.check(request.headers.authorization)) {
      const message = "a valid bearer token is required (Authorization: Bearer <key>)"
      return { series: entry.series, error: new Unauthorized({ message }) }
    }
    return { series: entry.series, route: entry.route }
  }

  const listener = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    const started = performance.now()
    const header = request.headers["x-request-id"]
    const requestId = typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID()
    const url = request.url ?? "/"
    const q = url.indexOf("?")
    const path = q < 0 ? url : url.slice(0, q)
    const query = q < 0 ? "" : url.slice(q + 1)
    const { series, route, error } = resolveRoute(request, path)
    inFlight++ // from arrival: a body still being read counts as in flight for the graceful stop

    // One fiber per request, started once the body (if any) is in: handler, error rendering, response, metrics, log.
    // The fiber starts with the request id among its log annotations (no annotateLogs step) and `done` observes
    // its end (no finalizer): the fewer steps, the cheaper a request.
    const respond = (effect: Effect.Effect<Reply, HttpError, AppServices>) =>
      run(
        Effect.flatMap(Effect.catchCause(effect, renderFailure), (reply) => {
          write(response, reply, requestId, draining)
          const seconds = (performance.now() - started) / 1000
          series.record(reply.status, seconds)
          return options.accessLog || reply.status >= 500
            ? Effect.annotateLogs(Effect.logInfo("request"), {
                method: request.method,
                path,
                status: reply.status,
                duration_ms: Math.round(seconds * 10_000) / 10
              })
            : Effect.void
        }),
        withRequestId(requestId)
      ).addObserver(done)

    if (route === undefined) return respond(Effect.fail(error!))
    const context: RequestContext = { request, path, query, requestId, body: EMPTY }
    if (route.body === undefined) return respond(route.handler(context))
    const refused = route.body.precheck?.(request)
    if (refused !== undefined) return respond(Effect.fail(refused))
    collectBody(request, route.body.maxBytes, (body) =>
      respond(Buffer.isBuffer(body) ? route.handler({ ...context, body }) : Effect.fail(body))
    )
  }

  return {
    listener,
    idle: Effect.callback<void>((resume) => {
      if (inFlight === 0) resume(Effect.void)
      else waiters.push(() => resume(Effect.void))
    }),
    startDraining: () => {
      draining = true
    }
  } satisfies App
})

// Typed errors are rendered by the table; anything else (a defect, an interruption) is logged and becomes a
// bare 500, so no stack or message of ours reaches the client.
const renderFailure = (cause: Cause.Cause<HttpError>): Effect.Effect<Reply> => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) {
    const reply = toErrorReply(failure.error)
    return reply.status >= 500
      ? Effect.logError("request failed", failure.error.message).pipe(
          Effect.as(json(reply.status, reply.body, reply.headers))
        )
      : Effect.succeed(json(reply.status, reply.body, reply.headers))
  }
  const reply = toErrorReply(new InternalError({ message: "internal error" }))
  return Effect.logError("request failed with a defect", cause).pipe(
    Effect.as(json(reply.status, reply.body, reply.headers))
  )
}

const write = (response: Http.ServerResponse, reply: Reply, requestId: string, closeAfter: boolean) => {
  if (response.headersSent || response.destroyed) return
  const headers: Record<string, string | number> = {
    ...reply.headers,
    "content-length": typeof reply.body === "string" ? Buffer.byteLength(reply.body) : reply.body.length,
    "x-request-id": requestId
  }
  if (closeAfter) headers["connection"] = "close"
  response.writeHead(reply.status, headers).end(reply.body)
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
    Effect.callback<{ server: Http.Server; address: AddressInfo }, ListenError>((resume) => {
      // Bounded header/request reading: a slow client cannot hold a connection for ever.
      const server = Http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000 }, app.listener)
      const onError = (cause: Error) => {
        resume(
          Effect.fail(
            new ListenError({ message: `cannot listen on ${options.host}:${options.port}: ${cause.message}`, cause })
          )
        )
      }
      server.once("error", onError)
      server.listen(options.port, options.host, () => {
        server.off("error", onError)
        resume(Effect.succeed({ server, address: server.address() as AddressInfo }))
      })
    }),
    ({ server }) =>
      Effect.gen(function* () {
        app.startDraining()
        const closed = yield* Effect.forkChild(
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
        )
        // close() stops accepting and ends idle keep-alive connections; busy ones finish their request first.
        const drained = yield* app.idle.pipe(Effect.timeoutOption(options.shutdownTimeoutMs))
        if (drained._tag === "None") {
          yield* Effect.logWarning("requests still in flight after the shutdown timeout; closing their connections")
        }
        server.closeAllConnections()
        yield* Fiber.join(closed)
        yield* Effect.logInfo("HTTP server closed")
      })
  ).pipe(Effect.map(({ address }) => address))

/** Options of `layer`: the app's and the listener's. @category models */
export interface ServerOptions extends AppOptions, ListenOptions {
  /** Logged at start, e.g. "PGlite in ./.data". */
  readonly dataLocation: string
}

/**
 * Build and serve the app for the layer's lifetime, logging where it listens, the mode, the data location and
 * the docs URL. @category layers
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
          bind: `${address.address}:${address.port}`
        })
      )
      // Registered after `listen`, so it runs first when the scope closes.
      yield* Effect.addFinalizer(() =>
        Effect.logInfo("shutting down: no new connections, finishing requests in flight")
      )
    })
  )
