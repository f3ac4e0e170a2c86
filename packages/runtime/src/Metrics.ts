/**
 * The one Prometheus stack of the apps, on prom-client: the `Metrics` service holds an app's registry (its
 * counters and histograms are prom-client instruments registered there), `render` writes the text exposition
 * format (version 0.0.4) for a scrape, and `serve` is the standalone exporter (a bare `node:http` server with
 * `GET /metrics` and `GET /health`) for a process without an HTTP server of its own.
 *
 * Every rendering also carries prom-client's default process metrics (`process_resident_memory_bytes`,
 * `process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, heap and GC figures…), collected once per process
 * whatever the number of registries, and any `Sample`s read at scrape time: figures kept elsewhere (a consumer's
 * counters, stats read from a store) are rendered as they are then, and left out, not faked, when unknown.
 *
 * Deliberately defines no app's metrics and pushes nothing anywhere: scrapers pull.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Data, Effect, Layer, type Scope } from "effect"
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client"

/** The registry of one app; its instruments register with `registers: [registry]`. @category services */
export class Metrics extends Context.Service<Metrics, Registry>()("@agg/runtime/Metrics") {}

/** A fresh, empty registry. @category layers */
export const layer: Layer.Layer<Metrics> = Layer.sync(Metrics, () => new Registry())

/** The content type of `render`'s text. @category models */
export const contentType = Registry.PROMETHEUS_CONTENT_TYPE

/** A figure read at scrape time: a metric name, its type and help, and its value. @category models */
export interface Sample {
  readonly name: string
  readonly type: "counter" | "gauge"
  readonly help: string
  readonly value: number
}

// Process-wide figures belong to one registry per process: collectDefaultMetrics starts an event-loop monitor
// and a GC observer each time it is called, and never stops them.
let processRegistry: Registry | undefined
const processMetrics = (): Registry => {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

const sampleRegistry = (samples: ReadonlyArray<Sample>): Registry => {
  const registry = new Registry()
  for (const { name, type, help, value } of samples) {
    if (type === "counter") new Counter({ name, help, registers: [registry] }).inc(value)
    else new Gauge({ name, help, registers: [registry] }).set(value)
  }
  return registry
}

/**
 * The text exposition of the app's registry, the process metrics and `samples`. Fails with a defect when two
 * of them use one name.
 * @category constructors
 */
export const render = (samples: ReadonlyArray<Sample> = []): Effect.Effect<string, never, Metrics> =>
  Effect.flatMap(Effect.service(Metrics), (registry) =>
    Effect.promise(() => Registry.merge([registry, processMetrics(), sampleRegistry(samples)]).metrics())
  )

/** The exporter's port could not be opened. @category errors */
export class ExporterError extends Data.TaggedError("ExporterError")<{ readonly message: string }> {}

interface Reply {
  readonly status: number
  readonly type: string
  readonly body: string
}

/** @category models */
export interface ServeOptions {
  /** 0: any free port (see the returned port). */
  readonly port: number
  /** Default: all interfaces. */
  readonly host?: string
  /** What set the port (the variable), named in the error when it cannot be opened. */
  readonly name: string
  /** Figures read on each scrape. */
  readonly samples?: Effect.Effect<ReadonlyArray<Sample>>
}

/**
 * Serve `render` at `GET /metrics` (and 200 at `GET /health`, 404 elsewhere) for the lifetime of the scope.
 * Listening is part of the acquisition, so a taken port fails the start; closing the scope closes the server and
 * its keep-alive connections. Succeeds with the port listened on.
 * @category constructors
 */
export const serve = (options: ServeOptions): Effect.Effect<number, ExporterError, Metrics | Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<Metrics>()
    const samples = options.samples ?? Effect.succeed([])
    const respond = (path: string | undefined): Effect.Effect<Reply, never, Metrics> =>
      path === "/metrics"
        ? Effect.map(Effect.flatMap(samples, render), (body) => ({ status: 200, type: contentType, body }))
        : Effect.succeed(
            path === "/health"
              ? { status: 200, type: "application/json", body: '{"status":"ok"}' }
              : { status: 404, type: "application/json", body: '{"error":"not found: GET /metrics or /health"}' }
          )
    const server = yield* Effect.acquireRelease(
      Effect.callback<Server, ExporterError>((resume) => {
        const server = createServer((request, response) => {
          Effect.runForkWith(context)(
            respond(request.url?.split("?")[0]).pipe(
              Effect.tap(({ status, type, body }) =>
                Effect.sync(() => response.writeHead(status, { "content-type": type }).end(body))
              )
            )
          )
        })
        server.once("error", (error) =>
          resume(Effect.fail(new ExporterError({ message: `${options.name} ${options.port}: ${error.message}` })))
        )
        server.listen(options.port, options.host, () => resume(Effect.succeed(server)))
      }),
      // closeAllConnections: a scraper's keep-alive connection must not hold the shutdown open.
      (server) =>
        Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    return (server.address() as AddressInfo).port
  })
