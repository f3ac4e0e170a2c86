/**
 * What a durable 2xx costs: the api's append (one MULTI of XADDs plus the `received` INCRBY per request, requests
 * in flight at once) against a private Redis with AOF under each `appendfsync` policy — `always` (what @agg runs:
 * nothing acknowledged is lost in a crash), `everysec` (up to a second lost) and `no` (the OS decides). One server
 * per policy, on its own port and directory, removed afterwards.
 *
 * @remarks Measures Redis alone, not the api: the ratio between policies is the figure to read.
 */
import { startPrivateRedis } from "@agg/testing/PrivateRedis"
import { createClient } from "redis"

export type FsyncPolicy = "always" | "everysec" | "no"

export interface FsyncRow {
  readonly policy: FsyncPolicy
  readonly events: number
  readonly eventsPerRequest: number
  readonly concurrency: number
  readonly seconds: number
  readonly eventsPerSec: number
}

export interface FsyncOptions {
  readonly events: number
  readonly eventsPerRequest: number
  readonly concurrency: number
  readonly policies?: ReadonlyArray<FsyncPolicy>
}

// A typical event's fields as the log stores them (see @agg/storage's Entry): one value field per entry.
const ENTRY = JSON.stringify({
  topic: "orders",
  event_id: "e-000000",
  timestamp: "2026-11-21T10:00:00.123Z",
  source: "checkout-svc",
  payload: { amount: 500, currency: "EUR", items: [1, 2, 3] }
})

const measure = async (policy: FsyncPolicy, options: FsyncOptions): Promise<FsyncRow> => {
  const server = await startPrivateRedis({ args: ["--appendfsync", policy] })
  const client = createClient({ url: server.url, RESP: 2, commandOptions: { timeout: 0 } })
  client.on("error", () => undefined)
  try {
    await client.connect()
    const requests = Math.ceil(options.events / options.eventsPerRequest)
    let next = 0
    const started = performance.now()
    const worker = async () => {
      while (next < requests) {
        next++
        const multi = client.multi()
        for (let i = 0; i < options.eventsPerRequest; i++) multi.xAdd("{bench:p0}:stream", "*", { v: ENTRY })
        multi.incrBy("{bench:p0}:received", options.eventsPerRequest)
        await multi.exec()
      }
    }
    await Promise.all(Array.from({ length: options.concurrency }, worker))
    const seconds = (performance.now() - started) / 1000
    const events = requests * options.eventsPerRequest
    return { policy, ...options, events, seconds, eventsPerSec: events / seconds }
  } finally {
    await client.close().catch(() => undefined)
    await server.teardown()
  }
}

/** One row per policy, in the order given (default always, everysec, no). */
export const runFsync = async (options: FsyncOptions): Promise<ReadonlyArray<FsyncRow>> => {
  const rows: Array<FsyncRow> = []
  for (const policy of options.policies ?? ["always", "everysec", "no"]) rows.push(await measure(policy, options))
  return rows
}
