/**
 * The HTTP-layer check, measured (`--only http-layer`): single-event and 500-event POST /publish through the
 * full api (validation and core's Ingest on the in-memory store included) as it runs (on Fastify 5), and the
 * same handler on Effect's HttpRouter + NodeHttpServer, beside a bare node:http + JSON.parse baseline
 * (`layerServers.ts`). Each server runs in its own child process, all started once; the targets take turns in
 * rounds (`runHttpIngest`: fresh event ids on every request, order rotating each round) so drift in the
 * machine's load hits them alike. Only ratios within one run are meaningful. Each row also carries the server's
 * CPU time per answered request over the measured rounds, which moves less than req/s on a busy machine.
 *
 * The rule it reports on: an HTTP layer within 10% of the api's on single-event req/s is good enough to move
 * the api to it. Reported, never asserted. Needs no PostgreSQL or Redis.
 */
import { fileURLToPath } from "node:url"
import { cpuSeconds, startNode, stop, waitReady } from "../Children.ts"
import { makeFreshBodies } from "../Events.ts"
import { measureLoad } from "../Load.ts"
import { type IngestRow, runHttpIngest } from "../scenarios/HttpIngest.ts"

/** The variants, each served by `layerServers.ts <kind>` (which this module must not import: it loads sources). */
export const layerKinds = ["node-http", "api", "effect"] as const
export type LayerKind = (typeof layerKinds)[number]

/** Sizes, connections and timing of one run. */
export interface HttpLayerPlan {
  readonly sizes: ReadonlyArray<number>
  readonly connections: (eventsPerRequest: number) => number
  /** Per target and size, before the rounds. */
  readonly warmupSeconds: number
  /** Measured seconds per target and size, split over `rounds`. */
  readonly seconds: number
  readonly rounds: number
}

/** The row names of the variants (also their names in the results' HTTP ingest table). */
export const layerNames: Record<LayerKind, string> = {
  "node-http": "http-layer: bare node:http + JSON.parse (baseline, no validation)",
  api: "http-layer: the api (Fastify 5)",
  effect: "http-layer: api on Effect HttpRouter + NodeHttpServer"
}

/** The largest single-event slowdown against the api at which another HTTP layer would be adopted. */
export const ADOPT_WITHIN = 0.1

const SCRIPT = fileURLToPath(new URL("./layerServers.ts", import.meta.url))

/** A row of the comparison: the ingest figures and the server's CPU per request. */
export interface HttpLayerRow extends IngestRow {
  /** Server CPU (user + system) per answered request over the measured rounds, in µs. */
  readonly cpuMicrosPerRequest: number
}

/** Start every variant, measure them interleaved (one size at a time), stop them. */
export const runHttpLayer = async (plan: HttpLayerPlan, log: (line: string) => void): Promise<Array<HttpLayerRow>> => {
  const t0 = performance.now()
  const children = await Promise.all(
    layerKinds.map(async (kind) => {
      let port: number | undefined
      const child = startNode({
        name: `http-layer ${kind}`,
        script: SCRIPT,
        args: [kind],
        nodeArgs: ["--conditions=@agg/source"],
        onLine: (line) => {
          if (line.startsWith('{"port"')) port = (JSON.parse(line) as { port: number }).port
        }
      })
      await waitReady(child, async () => port !== undefined)
      return { kind, child, url: `http://127.0.0.1:${port}` }
    })
  )
  log(`  ${children.length} servers up in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  try {
    const rows: Array<HttpLayerRow> = []
    for (const size of plan.sizes) {
      // Warm up here, so the CPU read around the rounds covers measured requests only.
      if (plan.warmupSeconds > 0) {
        for (const c of children) {
          await measureLoad({
            url: c.url,
            body: makeFreshBodies(`warm-${c.kind}-${size}`, size),
            connections: plan.connections(size),
            warmupSeconds: 0,
            seconds: plan.warmupSeconds,
            eventsPerRequest: size
          })
        }
      }
      const before = children.map((c) => cpuSeconds(c.child.pid) ?? Number.NaN)
      const { ingest } = await runHttpIngest(
        children.map((c) => ({ name: layerNames[c.kind], url: c.url, latency: false })),
        { ...plan, sizes: [size], warmupSeconds: 0, latencySizes: [], latencyLoad: 0, latencySeconds: 0 },
        log
      )
      children.forEach((c, i) => {
        const row = ingest.find((r) => r.target === layerNames[c.kind])!
        const cpu = (cpuSeconds(c.child.pid) ?? Number.NaN) - before[i]!
        const answered = Math.max(1, row.requests2xx + row.non2xx)
        rows.push({ ...row, cpuMicrosPerRequest: (1e6 * cpu) / answered })
      })
    }
    return rows
  } finally {
    for (const c of children) await stop(c.child)
  }
}

const int = (x: number) => Math.round(x).toLocaleString("en-US")

/**
 * The comparison as Markdown: per size, each variant's req/s, events/s, p50/p99, and its ratio to the api and to
 * the bare baseline; then the verdict of the rule on the single-event rows.
 */
export const formatHttpLayer = (rows: ReadonlyArray<HttpLayerRow>): string => {
  const out = [
    "| variant | events/request | connections | req/s | events/s | p50 ms | p99 ms | vs the api | vs bare node:http | server CPU µs/req | non-2xx / errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  ]
  const find = (kind: LayerKind, size: number) =>
    rows.find((r) => r.target === layerNames[kind] && r.eventsPerRequest === size)
  const sizes = [...new Set(rows.map((r) => r.eventsPerRequest))]
  for (const size of sizes) {
    const api = find("api", size)?.reqPerSec ?? Number.NaN
    const bare = find("node-http", size)?.reqPerSec ?? Number.NaN
    for (const kind of layerKinds) {
      const r = find(kind, size)
      if (r === undefined) continue
      out.push(
        `| ${layerNames[kind].replace("http-layer: ", "")} | ${size} | ${r.connections} | ${int(r.reqPerSec)} | ` +
          `${int(r.eventsPerSec)} | ${r.p50Ms} | ${r.p99Ms} | ${((100 * r.reqPerSec) / api).toFixed(0)}% | ` +
          `${((100 * r.reqPerSec) / bare).toFixed(0)}% | ${int(r.cpuMicrosPerRequest)} | ${r.non2xx} / ${r.errors} |`
      )
    }
  }
  const api = find("api", 1)?.reqPerSec
  const effect = find("effect", 1)
  if (api !== undefined && effect !== undefined) {
    const ratio = effect.reqPerSec / api
    out.push(
      "",
      `single-event rule (adopt an HTTP layer within ${100 * ADOPT_WITHIN}% of the api): Effect HttpRouter + ` +
        `NodeHttpServer at ${(100 * ratio).toFixed(0)}% of the api: ${ratio >= 1 - ADOPT_WITHIN ? "within" : "outside"} ${100 * ADOPT_WITHIN}%`
    )
  }
  return out.join("\n")
}
