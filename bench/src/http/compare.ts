/**
 * The HTTP-layer comparison: each server of `servers.ts` (parse-only baselines, and our app on an
 * in-memory log) runs in its own child process and autocannon (in this process) POSTs one 278-byte event per
 * request over 50 connections: 1 s warm-up, then a measured run; rounds are interleaved and the median kept.
 * Prints a Markdown table (req/s, p50/p99, ratio to bare node:http, server CPU per request) and one JSON line.
 * Measures only the HTTP layer: no Redis, no PostgreSQL.
 *
 * Usage: node bench/src/http/compare.ts [--duration 5] [--connections 50] [--rounds 3]
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import autocannon from "autocannon"
import { type ServerKind, serverKinds } from "./servers.ts"

/** The reference single event: exactly 278 bytes of JSON. */
export const singleEvent = (): string => {
  const base = {
    topic: "orders",
    event_id: "e-00000000-0000-4000-8000-000000000042",
    timestamp: "2026-11-21T10:00:00.123Z",
    source: "checkout-svc",
    payload: { amount: 500, currency: "EUR", customer: "c-1234", note: "" }
  }
  const pad = 278 - Buffer.byteLength(JSON.stringify(base))
  return JSON.stringify({ ...base, payload: { ...base.payload, note: "x".repeat(Math.max(0, pad)) } })
}

export interface HttpResult {
  readonly kind: ServerKind
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly non2xx: number
  readonly errors: number
  /** Server CPU time (user + system) per request in µs: steadier than req/s on a busy machine. Linux only. */
  readonly cpuMicrosPerRequest: number
}

// utime + stime of a process in ms, from /proc (clock ticks of 10 ms); NaN where /proc is missing.
const cpuMillis = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return Number.NaN
  }
}

const startChild = async (kind: ServerKind): Promise<{ child: ChildProcess; port: number }> => {
  const child = spawn(
    process.execPath,
    ["--conditions=@agg/source", fileURLToPath(new URL("./servers.ts", import.meta.url)), kind],
    {
      stdio: ["ignore", "pipe", "inherit"]
    }
  )
  const [line] = (await once(child.stdout!, "data")) as [Buffer]
  return { child, port: (JSON.parse(line.toString("utf8")) as { port: number }).port }
}

const load = (url: string, body: string, connections: number, duration: number) =>
  autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    connections,
    duration
  })

/** Measure one server kind: start it, warm it up for 1 s, measure for `duration` seconds, stop it. */
export const measure = async (
  kind: ServerKind,
  options: { readonly connections: number; readonly duration: number }
): Promise<HttpResult> => {
  const { child, port } = await startChild(kind)
  try {
    const url = `http://127.0.0.1:${port}/publish`
    const body = singleEvent()
    await load(url, body, options.connections, 1)
    const cpuBefore = cpuMillis(child.pid)
    const r = await load(url, body, options.connections, options.duration)
    const cpu = cpuMillis(child.pid) - cpuBefore
    return {
      kind,
      requestsPerSecond: r.requests.average,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      cpuMicrosPerRequest: (1000 * cpu) / Math.max(1, r.requests.total)
    }
  } finally {
    child.kill("SIGTERM")
    await once(child, "exit")
  }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const labels: Record<ServerKind, string> = {
  "node-http": "bare node:http + JSON.parse",
  fastify: "Fastify 5 (parse only)",
  effect: "Effect 4.1 HttpRouter + NodeHttpServer (parse only)",
  "node-http+runtime": "node:http + ManagedRuntime.runPromise (parse only)",
  api: "apps/api app (validation + core group commit, in-memory store)"
}

export const formatTable = (results: ReadonlyArray<HttpResult>): string => {
  const base = results.find((r) => r.kind === "node-http")?.requestsPerSecond ?? Number.NaN
  const rows = results.map(
    (r) =>
      `| ${labels[r.kind]} | ${Math.round(r.requestsPerSecond).toLocaleString("en")} | ${r.p50Ms} | ${r.p99Ms} | ${((100 * r.requestsPerSecond) / base).toFixed(0)}% | ${r.cpuMicrosPerRequest.toFixed(0)} | ${r.non2xx + r.errors} |`
  )
  return [
    "| server | req/s | p50 ms | p99 ms | vs node:http | server CPU µs/req | non-2xx+errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows
  ].join("\n")
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "5" },
      connections: { type: "string", default: "50" },
      rounds: { type: "string", default: "1" }
    }
  })
  const options = { duration: Number(values.duration), connections: Number(values.connections) }
  const rounds = Number(values.rounds)
  // Rounds are interleaved (every kind once per round) so drift in machine load hits all kinds alike.
  const runs = new Map<ServerKind, Array<HttpResult>>(serverKinds.map((k) => [k, []]))
  for (let i = 0; i < rounds; i++) for (const kind of serverKinds) runs.get(kind)!.push(await measure(kind, options))
  const results = serverKinds.map((kind) => {
    const mine = runs.get(kind)!
    return mine.find((r) => r.requestsPerSecond === median(mine.map((x) => x.requestsPerSecond)))!
  })
  console.log(
    `single ${Buffer.byteLength(singleEvent())}-byte event per request, ${options.connections} connections, ${options.duration} s after 1 s warm-up, median of ${rounds}`
  )
  console.log(formatTable(results))
  console.log(JSON.stringify({ http: results }))
}
