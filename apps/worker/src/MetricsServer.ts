/**
 * The worker's optional metrics endpoint: a bare `node:http` server on `WORKER_METRICS_PORT` answering
 * `GET /metrics` with Prometheus text rendered on each request, and `GET /health` with 200 while the worker runs.
 * Listening is part of the layer's acquisition (a taken port fails the start); closing the scope closes the server.
 *
 * Deliberately does not compute any figure: the caller passes `render`, so this module knows nothing about the
 * consumer.
 */
import { createServer, type Server } from "node:http"
import { Data, Effect, type Scope } from "effect"

/** The metrics port could not be opened. @category errors */
export class MetricsServerError extends Data.TaggedError("MetricsServerError")<{ readonly message: string }> {}

/** One sample of the exposition: a metric name, its type and help, and its value. @category models */
export interface Sample {
  readonly name: string
  readonly type: "counter" | "gauge"
  readonly help: string
  readonly value: number
}

/** Prometheus text exposition format (version 0.0.4) of the samples. @category constructors */
export const renderPrometheus = (samples: ReadonlyArray<Sample>): string =>
  samples
    .map(({ name, type, help, value }) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`)
    .join("")

/** Serve `render()` at /metrics on `port` (all interfaces) for the lifetime of the scope. @category constructors */
export const serveMetrics = (
  port: number,
  render: Effect.Effect<ReadonlyArray<Sample>>
): Effect.Effect<void, MetricsServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<never>()
    const respond = Effect.fnUntraced(function* (path: string | undefined) {
      if (path === "/metrics") {
        const body = renderPrometheus(yield* render)
        return { status: 200, type: "text/plain; version=0.0.4; charset=utf-8", body }
      }
      if (path === "/health") return { status: 200, type: "application/json", body: '{"status":"ok"}' }
      return { status: 404, type: "application/json", body: '{"error":"not found: GET /metrics or /health"}' }
    })
    yield* Effect.acquireRelease(
      Effect.callback<Server, MetricsServerError>((resume) => {
        const server = createServer((request, response) => {
          const path = request.url?.split("?")[0]
          Effect.runForkWith(context)(
            respond(path).pipe(
              Effect.tap(({ status, type, body }) =>
                Effect.sync(() => response.writeHead(status, { "content-type": type }).end(body))
              )
            )
          )
        })
        server.once("error", (error) =>
          resume(Effect.fail(new MetricsServerError({ message: `WORKER_METRICS_PORT ${port}: ${error.message}` })))
        )
        server.listen(port, () => resume(Effect.succeed(server)))
      }),
      // closeAllConnections: a scraper's keep-alive connection must not hold the shutdown open.
      (server) =>
        Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
  })
