/**
 * The API's own Prometheus instruments, registered in the process's registry from `@agg/runtime`'s `Metrics`:
 * HTTP requests by route, method and status, request latency, events accepted, events per publish request,
 * commit batch sizes and conflicting versions committed (observed on the store in direct mode), and dead letters
 * redriven and discarded through this API. GET /metrics renders them with the process metrics
 * and the gauges read from the stats at scrape time.
 *
 * Does not read the stats itself (the Metrics route passes them in) and keeps no per-client labels.
 */
import { Metrics as RuntimeMetrics } from "@agg/runtime"
import { Context, Effect, Layer } from "effect"
import { Counter, Histogram, type Registry } from "prom-client"

const LATENCY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const BATCH_BOUNDS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

/** The request series of one route and method: counts by status and the latency histogram. */
export class RouteSeries {
  private readonly byStatus = new Map<number, Counter.Internal>()
  private readonly requests: Counter<"route" | "method" | "status">
  private readonly route: string
  private readonly method: string
  private readonly latency: Histogram.Internal<"route" | "method">
  constructor(
    requests: Counter<"route" | "method" | "status">,
    latency: Histogram<"route" | "method">,
    route: string,
    method: string
  ) {
    this.requests = requests
    this.route = route
    this.method = method
    this.latency = latency.labels(route, method)
  }
  /** Count a finished request and its latency in seconds. */
  record(status: number, seconds: number): void {
    let counter = this.byStatus.get(status)
    if (counter === undefined) {
      counter = this.requests.labels(this.route, this.method, String(status))
      this.byStatus.set(status, counter)
    }
    counter.inc()
    this.latency.observe(seconds)
  }
}

/** The instruments of one server. @category models */
export class MetricsRegistry {
  private readonly registry: Registry
  private readonly routes = new Map<string, RouteSeries>()
  private readonly requests: Counter<"route" | "method" | "status">
  private readonly latency: Histogram<"route" | "method">
  private readonly eventsAccepted: Counter
  private readonly requestBatch: Histogram
  private readonly commitBatch: Histogram
  private readonly conflictsStored: Counter
  private readonly redriven: Counter
  private readonly discarded: Counter

  constructor(registry: Registry) {
    this.registry = registry
    const registers = [registry]
    this.requests = new Counter({
      name: "agg_http_requests_total",
      help: "HTTP requests by route, method and status.",
      labelNames: ["route", "method", "status"],
      registers
    })
    this.latency = new Histogram({
      name: "agg_http_request_duration_seconds",
      help: "HTTP request latency by route and method.",
      labelNames: ["route", "method"],
      buckets: LATENCY_BOUNDS,
      registers
    })
    this.eventsAccepted = new Counter({
      name: "agg_events_accepted_total",
      help: "Events of 2xx publish answers.",
      registers
    })
    this.requestBatch = new Histogram({
      name: "agg_publish_batch_size",
      help: "Events per accepted publish request.",
      buckets: BATCH_BOUNDS,
      registers
    })
    this.commitBatch = new Histogram({
      name: "agg_commit_batch_size",
      help: "Events per store transaction committed by this process (direct mode).",
      buckets: BATCH_BOUNDS,
      registers
    })
    this.conflictsStored = new Counter({
      name: "agg_conflicts_stored_total",
      help: "Rejected later versions (same key, other content) committed by this process (direct mode).",
      registers
    })
    this.redriven = new Counter({
      name: "agg_dead_letters_redriven_total",
      help: "Dead letters appended back to the stream through this API.",
      registers
    })
    this.discarded = new Counter({
      name: "agg_dead_letters_discarded_total",
      help: "Dead letters discarded for good through this API.",
      registers
    })
  }

  /**
   * The series of `route` (the matched path, or "unmatched") and `method`; look it up once and keep it, since
   * the hot path should not build label keys per request.
   */
  series(route: string, method: string): RouteSeries {
    const key = `${method} ${route}`
    let series = this.routes.get(key)
    if (series === undefined) {
      series = new RouteSeries(this.requests, this.latency, route, method)
      this.routes.set(key, series)
    }
    return series
  }

  /** Count the events of an accepted publish request. */
  recordAccepted(events: number): void {
    this.eventsAccepted.inc(events)
    this.requestBatch.observe(events)
  }

  /** Observe one commit (one store transaction): its size and its conflicting versions. */
  recordCommit(outcomes: ReadonlyArray<{ readonly _tag: string }>): void {
    this.commitBatch.observe(outcomes.length)
    const conflicts = outcomes.reduce((n, o) => (o._tag === "Conflict" ? n + 1 : n), 0)
    if (conflicts > 0) this.conflictsStored.inc(conflicts)
  }

  /** Count dead letters redriven by one request. */
  recordRedriven(count: number): void {
    if (count > 0) this.redriven.inc(count)
  }

  /** Count dead letters discarded by one request. */
  recordDiscarded(count: number): void {
    if (count > 0) this.discarded.inc(count)
  }

  /** The text exposition of every instrument, the process metrics and `samples` (figures read at scrape time). */
  render(samples: ReadonlyArray<RuntimeMetrics.Sample>): Effect.Effect<string> {
    return RuntimeMetrics.render(samples).pipe(Effect.provideService(RuntimeMetrics.Metrics, this.registry))
  }
}

/** The instruments of this process, shared by the server and the store decorator. @category services */
export class Metrics extends Context.Service<Metrics, MetricsRegistry>()("@agg/api/Metrics") {
  static readonly layer: Layer.Layer<Metrics> = Layer.effect(
    Metrics,
    Effect.map(Effect.service(RuntimeMetrics.Metrics), (registry) => new MetricsRegistry(registry))
  ).pipe(Layer.provide(RuntimeMetrics.layer))
}
