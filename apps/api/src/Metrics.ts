/**
 * The Prometheus metrics of the API (GET /metrics), kept as plain counters and fixed-bucket histograms and
 * written in the text exposition format by hand: HTTP requests by route and status, request latency, events
 * accepted, commit batch sizes (observed on the store in direct mode), plus gauges read from the stats at scrape
 * time (received, unique, duplicates, conflicts, pending).
 *
 * Does not read the stats itself (the Metrics route passes them in) and keeps no per-client labels.
 */
import { Context, Layer } from "effect"

/** A histogram with fixed upper bounds. */
class Histogram {
  readonly bounds: ReadonlyArray<number>
  readonly counts: Array<number>
  sum = 0
  count = 0
  constructor(bounds: ReadonlyArray<number>) {
    this.bounds = bounds
    this.counts = bounds.map(() => 0)
  }
  observe(value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]!) {
        this.counts[i]!++
        return
      }
    }
  }
}

const LATENCY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const BATCH_BOUNDS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

/** Figures read from the stats when scraped. @category models */
export interface Gauges {
  readonly received: number
  readonly unique: number
  readonly duplicates: number
  readonly conflicts: number
  readonly pending: number
  readonly deadLettered: number
  readonly uptimeSeconds: number
}

/** The request series of one route and method: counts by status and the latency histogram. */
export class RouteSeries {
  readonly route: string
  readonly method: string
  readonly byStatus = new Map<number, number>()
  readonly latency = new Histogram(LATENCY_BOUNDS)
  constructor(route: string, method: string) {
    this.route = route
    this.method = method
  }
  /** Count a finished request and its latency in seconds. */
  record(status: number, seconds: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1)
    this.latency.observe(seconds)
  }
}

/** One registry per server. @category models */
export class MetricsRegistry {
  private readonly routes = new Map<string, RouteSeries>()
  private readonly commitBatch = new Histogram(BATCH_BOUNDS)
  private eventsAccepted = 0
  private readonly requestBatch = new Histogram(BATCH_BOUNDS)

  /**
   * The series of `route` (the matched path, or "unmatched") and `method`; look it up once and keep it, since
   * the hot path should not build label keys per request.
   */
  series(route: string, method: string): RouteSeries {
    const key = `${method} ${route}`
    let series = this.routes.get(key)
    if (series === undefined) {
      series = new RouteSeries(route, method)
      this.routes.set(key, series)
    }
    return series
  }

  /** Count the events of an accepted publish request. */
  recordAccepted(events: number): void {
    this.eventsAccepted += events
    this.requestBatch.observe(events)
  }

  /** Observe the size of one commit (one store transaction). */
  recordCommit(size: number): void {
    this.commitBatch.observe(size)
  }

  /** The text exposition format (version 0.0.4). */
  render(gauges: Gauges | undefined): string {
    const out: Array<string> = []
    out.push("# HELP agg_http_requests_total HTTP requests by route, method and status.")
    out.push("# TYPE agg_http_requests_total counter")
    for (const series of this.routes.values()) {
      for (const [status, n] of series.byStatus) {
        out.push(
          `agg_http_requests_total{route="${escapeLabel(series.route)}",method="${escapeLabel(series.method)}",status="${status}"} ${n}`
        )
      }
    }
    out.push("# HELP agg_http_request_duration_seconds HTTP request latency by route and method.")
    out.push("# TYPE agg_http_request_duration_seconds histogram")
    for (const series of this.routes.values()) {
      if (series.latency.count === 0) continue
      const labels = `route="${escapeLabel(series.route)}",method="${escapeLabel(series.method)}",`
      histogramLines(out, "agg_http_request_duration_seconds", series.latency, labels)
    }
    out.push("# HELP agg_events_accepted_total Events of 2xx publish answers.")
    out.push("# TYPE agg_events_accepted_total counter")
    out.push(`agg_events_accepted_total ${this.eventsAccepted}`)
    out.push("# HELP agg_publish_batch_size Events per accepted publish request.")
    out.push("# TYPE agg_publish_batch_size histogram")
    histogramLines(out, "agg_publish_batch_size", this.requestBatch, "")
    out.push("# HELP agg_commit_batch_size Events per store transaction committed by this process (direct mode).")
    out.push("# TYPE agg_commit_batch_size histogram")
    histogramLines(out, "agg_commit_batch_size", this.commitBatch, "")
    if (gauges !== undefined) {
      const gauge = (name: string, help: string, value: number) => {
        out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`)
      }
      gauge("agg_received", "Events accepted (SPEC stats received).", gauges.received)
      gauge("agg_unique_processed", "Events stored, one per (topic, event_id).", gauges.unique)
      gauge("agg_duplicate_dropped", "Deliveries dropped as duplicates (conflicts included).", gauges.duplicates)
      gauge("agg_conflicts", "Duplicates whose content differed from the stored version.", gauges.conflicts)
      gauge("agg_pending", "Accepted events not yet processed (stream lag + unacknowledged).", gauges.pending)
      gauge("agg_dead_lettered", "Stream entries moved to the dead-letter stream.", gauges.deadLettered)
      gauge("agg_uptime_seconds", "Seconds since this API process started.", gauges.uptimeSeconds)
    }
    const memory = process.memoryUsage()
    out.push("# HELP process_resident_memory_bytes Resident memory size in bytes.")
    out.push("# TYPE process_resident_memory_bytes gauge")
    out.push(`process_resident_memory_bytes ${memory.rss}`)
    return `${out.join("\n")}\n`
  }
}

const histogramLines = (out: Array<string>, name: string, h: Histogram, labels: string) => {
  let cumulative = 0
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i]!
    out.push(`${name}_bucket{${labels}le="${h.bounds[i]}"} ${cumulative}`)
  }
  out.push(`${name}_bucket{${labels}le="+Inf"} ${h.count}`)
  const bare = labels === "" ? "" : `{${labels.slice(0, -1)}}`
  out.push(`${name}_sum${bare} ${h.sum}`)
  out.push(`${name}_count${bare} ${h.count}`)
}

/** The registry of this process, shared by the server and the store decorator. @category services */
export class Metrics extends Context.Service<Metrics, MetricsRegistry>()("@agg/api/Metrics") {
  static readonly layer: Layer.Layer<Metrics> = Layer.sync(Metrics, () => new MetricsRegistry())
}
