/**
 * A small in-memory implementation of the API's routes (POST /publish, GET /stats, GET /events) on a real node:http
 * server on port 0, for the publisher's CLI tests while apps/api is built elsewhere. It dedups by
 * (topic, event_id), assigns gap-free per-topic offsets, and keeps events "pending" until /stats has been polled
 * `drainAfterPolls` times, so `--verify` really waits. Faults are scripted per publish request.
 * Deliberately not here: validation beyond shape, auth other than one key, limits.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

interface Stored {
  readonly topic: string
  readonly event_id: string
  readonly timestamp: string
  readonly source: string
  readonly payload: unknown
  readonly offset: number
  readonly received_at: string
}

export interface FakeApiOptions {
  /** Answer for the n-th publish request (from 1): a fault, or undefined to process it. */
  readonly fault?: (n: number) => "503" | "500-after-commit" | "reset" | undefined
  /** Events to silently lose (a broken server), by event id. */
  readonly lose?: (eventId: string) => boolean
  /** Polls of /stats during which freshly accepted events stay pending. */
  readonly drainAfterPolls?: number
  readonly apiKey?: string
}

export interface FakeApi {
  readonly url: string
  readonly publishRequests: () => number
  readonly close: () => Promise<void>
}

export const startFakeApi = async (options: FakeApiOptions = {}): Promise<FakeApi> => {
  const topics = new Map<string, Array<Stored>>()
  const keys = new Set<string>()
  let queue: Array<Record<string, unknown>> = []
  let received = 0
  let unique = 0
  let duplicates = 0
  let polls = 0
  let publishes = 0

  const drain = () => {
    for (const e of queue) {
      const key = `${e.topic}\n${e.event_id}`
      if (keys.has(key) || options.lose?.(String(e.event_id))) {
        if (keys.has(key)) duplicates++
        else unique++ // a lost event is counted but never stored: the stats lie, /events shows it
        continue
      }
      keys.add(key)
      unique++
      const list = topics.get(String(e.topic)) ?? []
      topics.set(String(e.topic), list)
      list.push({
        topic: String(e.topic),
        event_id: String(e.event_id),
        timestamp: String(e.timestamp),
        source: String(e.source),
        payload: e.payload,
        offset: list.length + 1,
        received_at: new Date().toISOString()
      })
    }
    queue = []
  }

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers })
    res.end(JSON.stringify(body))
  }

  const readAll = async (req: IncomingMessage) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString("utf8")
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x")
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`)
      return json(res, 401, { error: { code: "unauthorized", message: "missing or wrong bearer token" } })
    if (req.method === "POST" && url.pathname === "/publish") {
      const text = await readAll(req)
      const n = ++publishes
      const fault = options.fault?.(n)
      if (fault === "reset") return req.socket.destroy()
      if (fault === "503")
        return json(res, 503, { error: { code: "unavailable", message: "x" } }, { "retry-after": "0" })
      const body = JSON.parse(text) as unknown
      const events = (Array.isArray(body) ? body : [body]) as Array<Record<string, unknown>>
      received += events.length
      queue.push(...events)
      // Committed, then the answer is lost: the client must retry and the server must dedup.
      if (fault === "500-after-commit") return json(res, 500, { error: { code: "internal_error", message: "x" } })
      return json(res, 202, { accepted: events.length })
    }
    if (req.method === "GET" && url.pathname === "/stats") {
      if (++polls > (options.drainAfterPolls ?? 0)) drain()
      return json(res, 200, {
        received,
        unique_processed: unique,
        duplicate_dropped: duplicates,
        conflicts: 0,
        pending: queue.length,
        topics: [...topics.keys()],
        uptime_seconds: 1
      })
    }
    if (req.method === "GET" && url.pathname === "/events") {
      const after = Number(url.searchParams.get("after") ?? 0)
      const limit = Number(url.searchParams.get("limit") ?? 100)
      const list = topics.get(url.searchParams.get("topic") ?? "") ?? []
      const page = list.filter((e) => e.offset > after).slice(0, limit)
      return json(res, 200, { events: page, next_after: page.at(-1)?.offset ?? after })
    }
    return json(res, 404, { code: "NOT_FOUND" })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    publishRequests: () => publishes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
