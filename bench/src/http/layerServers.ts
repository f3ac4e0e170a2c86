/**
 * The servers of the HTTP-layer check (`layer.ts`), each answering the api's POST /publish:
 * - `api`: the api itself (`apiServer.ts`: apps/api's `makeApp` + `listen`, on Fastify 5);
 * - `effect`: the api's POST /publish handler on Effect's HttpRouter + @effect/platform-node's NodeHttpServer,
 *   the body read by the platform;
 * - `node-http`: the bare node:http + JSON.parse baseline of `servers.ts` (no validation, no ingest).
 *
 * The Effect adapter runs exactly the api's per-request work around the platform's routing and body reading:
 * 415 unless the Content-Type is JSON (`Body.requireJson`), the same body limit (413), then apps/api's own
 * POST /publish handler (strict UTF-8/JSON decoding, @agg/schema validation, core's Ingest on the in-memory
 * store of `Layers.memoryDirect`), errors rendered by the `HttpErrors` table, the `x-request-id` header and the
 * route's metrics series. The reply (status, body, content-type) is byte for byte the api's.
 *
 * Bench-only: no other routes, no auth (the api runs without keys here too), no access log (off in the api run
 * as well), no graceful stop. Run as a child process with `--conditions=@agg/source`:
 * `node --conditions=@agg/source layerServers.ts <kind>`; prints `{"port":n}` on stdout once listening.
 */
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import {
  Metrics as ApiMetrics,
  Route as ApiRoute,
  type AppServices,
  Body,
  HttpErrors,
  memoryDirect,
  Publish
} from "@agg/api"
import { Ingest } from "@agg/core"
import { defaultLimits } from "@agg/schema"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { ByteSize, Cause, type Context, Effect, Layer, ManagedRuntime } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { type LayerKind, layerKinds } from "./layer.ts"
import { startServer } from "./servers.ts"

const { requireJson } = Body
const { BodyAborted, BodyTooLarge, InternalError, toErrorReply } = HttpErrors
type HttpError = HttpErrors.HttpError
const { Metrics } = ApiMetrics
type RouteSeries = ApiMetrics.RouteSeries
const { json } = ApiRoute
type Reply = ApiRoute.Reply
type Route<R> = ApiRoute.Route<R>

const HOST = "127.0.0.1"
// The api's timeouts (its Fastify options in Server.makeApp) and request id rule, so both bound and tag alike.
const SERVER_OPTIONS = { requestTimeout: 60_000, headersTimeout: 20_000 }
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const requestIdOf = (header: string | ReadonlyArray<string> | undefined): string =>
  typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID()

/** What the adapter needs: the api's publish route on the in-memory services, and its metrics series. */
interface PublishApp {
  readonly limits: typeof defaultLimits
  readonly route: Route<never>
  readonly series: RouteSeries
  readonly context: Context.Context<AppServices>
}

const makePublishApp = async (): Promise<PublishApp> => {
  // Lives until the process exits, like the api's services.
  const runtime = ManagedRuntime.make(memoryDirect())
  return runtime.runPromise(
    Effect.gen(function* () {
      const ingest = yield* Ingest.Ingest
      const metrics = yield* Metrics
      return {
        limits: defaultLimits,
        route: Publish.routes(defaultLimits, ingest, metrics)[0]!,
        series: metrics.series("/publish", "POST"),
        context: yield* Effect.context<AppServices>()
      }
    })
  )
}

// As Server.renderFailure: typed errors by the table, anything else a bare 500 (logging left out: error paths
// are not measured).
const renderFailure = (cause: Cause.Cause<HttpError>): Effect.Effect<Reply> => {
  const failure = cause.reasons.find(Cause.isFailReason)
  const reply = toErrorReply(failure?.error ?? new InternalError({ message: "internal error" }))
  return Effect.succeed(json(reply.status, reply.body, reply.headers))
}

const errorReply = (error: HttpError): Reply => {
  const reply = toErrorReply(error)
  return json(reply.status, reply.body, reply.headers)
}

const tooLarge = (maxBytes: number) =>
  new BodyTooLarge({ message: `the request body exceeds the limit of ${maxBytes} bytes` })

// The platform fails a body over MaxBodySize with a RequestParseError whose reason is "BodyTooLarge".
const isTooLarge = (error: unknown): boolean =>
  (error as { reason?: { reason?: string } }).reason?.reason === "BodyTooLarge" ||
  (error as { reason?: string }).reason === "BodyTooLarge"

/** Effect's HttpRouter on NodeHttpServer, request logger off; the body is read by the platform (MaxBodySize). */
const startEffect = async (): Promise<number> => {
  const app = await makePublishApp()
  const maxBytes = app.limits.maxBodyBytes
  const maxBodySize = ByteSize.bytes(maxBytes)
  const toResponse = (reply: Reply, requestId: string, started: number) => {
    app.series.record(reply.status, (performance.now() - started) / 1000)
    const { "content-type": contentType, ...headers } = reply.headers
    return HttpServerResponse.text(typeof reply.body === "string" ? reply.body : reply.body.toString("utf8"), {
      status: reply.status,
      headers: { ...headers, "x-request-id": requestId },
      ...(contentType === undefined ? {} : { contentType })
    })
  }
  const publish = HttpRouter.add("POST", "/publish", (request) =>
    Effect.gen(function* () {
      const started = performance.now()
      const raw = NodeHttpServerRequest.toIncomingMessage(request) as Http.IncomingMessage
      const requestId = requestIdOf(raw.headers["x-request-id"])
      const refused = requireJson(raw)
      if (refused !== undefined) return toResponse(errorReply(refused), requestId, started)
      const announced = raw.headers["content-length"]
      if (announced !== undefined && Number(announced) > maxBytes) {
        return toResponse(errorReply(tooLarge(maxBytes)), requestId, started)
      }
      const read = yield* request.arrayBuffer.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize),
        Effect.mapError((error) =>
          isTooLarge(error) ? tooLarge(maxBytes) : new BodyAborted({ message: "the request body could not be read" })
        ),
        Effect.result
      )
      if (read._tag === "Failure") return toResponse(errorReply(read.failure), requestId, started)
      const body = Buffer.from(read.success)
      const context = { request: raw, path: "/publish", params: {}, query: "", requestId, body }
      const reply = yield* Effect.catchCause(app.route.handler(context), renderFailure)
      return toResponse(reply, requestId, started)
    })
  )
  const server = HttpRouter.serve(publish, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(SERVER_OPTIONS), { port: 0, host: HOST }))
  )
  return new Promise((resolve) => {
    const program = Effect.gen(function* () {
      const address = (yield* HttpServer.HttpServer).address
      if ("port" in address) resolve(address.port)
      return yield* Effect.never
    })
    Effect.runFork(program.pipe(Effect.provide(server)))
  })
}

export const startLayerServer = (kind: LayerKind): Promise<number> => {
  switch (kind) {
    case "node-http":
      return startServer("node-http")
    case "api":
      return import("./apiServer.ts").then((m) => m.startApiServer())
    case "effect":
      return startEffect()
  }
}

if (import.meta.main) {
  const kind = process.argv[2] as LayerKind
  if (!layerKinds.includes(kind)) {
    console.error(`usage: node --conditions=@agg/source layerServers.ts <${layerKinds.join("|")}>`)
    process.exit(2)
  }
  const port = await startLayerServer(kind)
  process.on("SIGTERM", () => process.exit(0))
  console.log(JSON.stringify({ port }))
}
