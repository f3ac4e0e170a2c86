/**
 * Test helpers: run the real app (`Server.makeApp` + `Server.listen`) on 127.0.0.1 port 0 over the given
 * service layers, and a raw HTTP client (node:http, so tests control every header and byte). Logs are dropped
 * unless AGG_TEST_LOGS=1.
 */
import * as Http from "node:http"
import { defaultLimits, type Limits } from "@agg/schema"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Logger, Redacted, References } from "effect"
import type { ApiConfig } from "../../src/Config.ts"
import * as Server from "../../src/Server.ts"

export interface RunningApp {
  readonly url: string
  readonly port: number
  /** Graceful stop: the server, then the layers (group commit drain, pools). */
  readonly close: () => Promise<void>
}

export interface StartOptions {
  readonly limits?: Partial<Limits>
  readonly apiKeys?: ReadonlyArray<string>
  readonly adminKeys?: ReadonlyArray<string>
  readonly shutdownTimeoutMs?: number
  /** Collect every log line here (message and annotations, as JSON) instead of dropping them. */
  readonly logs?: Array<string>
  /** Heartbeat interval of GET /events/stream (default: the server's). */
  readonly heartbeatMs?: number
  /** Listen on this port (default: any free one), e.g. to restart an app where its clients expect it. */
  readonly port?: number
}

const quiet = process.env.AGG_TEST_LOGS === "1" ? Layer.empty : Logger.layer([])

/**
 * Build `services`, then the app, and listen on port 0; `close` releases everything. The whole lifetime runs in
 * one fiber (like `Layer.launch` in main), so fibers forked while building the layers live until `close`.
 */
export const startApp = async (
  services: Layer.Layer<Server.AppServices, unknown>,
  options: StartOptions = {}
): Promise<RunningApp> => {
  const stop = Effect.runSync(Deferred.make<void>())
  let resolveReady: (port: number) => void = () => undefined
  let rejectReady: (error: Error) => void = () => undefined
  const ready = new Promise<number>((resolve, reject) => {
    resolveReady = resolve
    rejectReady = reject
  })
  const fiber = Effect.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        // Not Layer.mergeAll(services, quiet): layers merged that way are built in fibers that end after the
        // build, taking fibers they fork (core's group commit flushers) with them.
        const logs = options.logs
        const logger =
          logs === undefined
            ? quiet
            : Logger.layer([
                Logger.make(({ message, fiber }) => {
                  logs.push(JSON.stringify({ message, annotations: fiber.getRef(References.CurrentLogAnnotations) }))
                })
              ])
        const context = Context.merge(yield* Layer.build(services), yield* Layer.build(logger))
        const app = yield* Server.makeApp({
          limits: { ...defaultLimits, ...options.limits },
          apiKeys: (options.apiKeys ?? []).map((k) => Redacted.make(k)),
          adminKeys: (options.adminKeys ?? []).map((k) => Redacted.make(k)),
          accessLog: true,
          ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs })
        }).pipe(Effect.provideContext(context))
        const address = yield* Server.listen(app, {
          port: options.port ?? 0,
          host: "127.0.0.1",
          shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5_000
        })
        resolveReady(address.port)
        yield* Deferred.await(stop)
      })
    )
  )
  fiber.addObserver((exit) => {
    if (Exit.isFailure(exit)) rejectReady(new Error(`app failed: ${String(exit.cause)}`))
  })
  const port = await ready
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      Effect.runSync(Deferred.succeed(stop, undefined))
      const exit = await Effect.runPromise(Fiber.await(fiber))
      if (Exit.isFailure(exit)) throw new Error(`app failed while closing: ${String(exit.cause)}`)
    }
  }
}

export { memoryDirect, memoryQueued } from "../../src/Layers.ts"

export interface RawResponse {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: tests probe response bodies field by field and assert on each
  readonly json: () => any
}

export interface RawRequest {
  readonly method?: string
  readonly path: string
  readonly headers?: Record<string, string | number>
  readonly body?: string | Buffer
  /** Send the body in chunks without Content-Length (chunked transfer encoding). */
  readonly chunked?: boolean
}

/** One request on a fresh connection; resolves with the full response. */
export const send = (base: string, request: RawRequest): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const url = new URL(request.path, base)
    const body =
      request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body)
    const headers: Record<string, string | number> = { ...request.headers }
    if (body !== undefined && !request.chunked && headers["content-length"] === undefined) {
      headers["content-length"] = body.length
    }
    const req = Http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: request.method ?? "GET",
        headers,
        agent: false
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) })
        })
        res.on("error", reject)
      }
    )
    // The server may answer (413, 401, 415) and close before the whole body is sent: the answer still counts.
    req.on("error", reject)
    if (body !== undefined) {
      if (request.chunked) {
        for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024))
      } else req.write(body)
    }
    req.end()
  })

/** POST /publish with a JSON body (a value, or raw text) and optional extra headers. */
export const publish = (base: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> =>
  send(base, {
    method: "POST",
    path: "/publish",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

/** A valid event; `overrides` replace fields. */
export const event = (id: string | number, overrides: Record<string, unknown> = {}) => ({
  topic: "orders",
  event_id: `e-${id}`,
  timestamp: "2026-11-21T10:00:00.123Z",
  source: "checkout-svc",
  payload: { amount: 500, n: id },
  ...overrides
})

/** An `ApiConfig` for `Layers.services`, with the defaults of main and the given mode. */
export const testConfig = (mode: ApiConfig["mode"], overrides: Partial<ApiConfig> = {}): ApiConfig => ({
  port: 0,
  host: "127.0.0.1",
  mode,
  apiKeys: [],
  adminApiKeys: [],
  limits: defaultLimits,
  commit: { maxEvents: 2000, maxWaitMs: 0 },
  poolSize: 4,
  shutdownTimeoutMs: 5_000,
  accessLog: true,
  ...overrides
})
