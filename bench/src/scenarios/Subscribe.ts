/**
 * Subscribers, measured against the built embedded api (PGlite in a temporary DATA_DIR):
 * - latency: publish → subscriber, p50/p99, for a per-topic and an all-topics subscriber, while single events are
 *   published at half the rate the api sustained in a short max-rate probe of the same run;
 * - fan-out: 100 subscribers of one topic while batches are published; events delivered per second (summed over
 *   subscribers) and the api's CPU per 1,000 deliveries.
 * Subscribers are @agg/client's `subscribe` iterators (fetch + SSE), as a service would use them.
 *
 * @remarks Latency is measured with the publisher's clock at send and the subscriber's at arrival, in one process.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient } from "@agg/client"
import { quantile } from "../ApiClient.ts"
import { cpuSeconds, stop } from "../Children.ts"
import { startApi } from "../System.ts"

export interface SubscribeResult {
  readonly maxRate: number
  readonly publishRate: number
  readonly latency: ReadonlyArray<{
    readonly subscriber: "topic" | "all topics"
    readonly events: number
    readonly p50Ms: number
    readonly p99Ms: number
  }>
  readonly fanOut: {
    readonly subscribers: number
    readonly events: number
    readonly deliveredPerSec: number
    readonly apiCpuMsPer1000: number
  }
}

export interface SubscribeOptions {
  readonly latencyEvents: number
  readonly fanOutSubscribers: number
  readonly fanOutEvents: number
  readonly log: (line: string) => void
}

const event = (topic: string, id: string, sentMs: number) => ({
  topic,
  event_id: id,
  timestamp: "2026-11-21T10:00:00.000Z",
  source: "bench",
  payload: { sent: sentMs }
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const runSubscribe = async (options: SubscribeOptions): Promise<SubscribeResult> => {
  const dataDir = mkdtempSync(join(tmpdir(), "agg-bench-sub-"))
  const api = await startApi({ name: "api-subscribe", config: { mode: "embedded", dataDir } })
  const client = createClient({ url: api.url })
  const abort = new AbortController()
  try {
    // Max single-event rate: 16 publishers in a loop for 2 s.
    let probe = 0
    const probeEnd = performance.now() + 2_000
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        for (let i = 0; performance.now() < probeEnd; i++) {
          await client.publish([event("probe", `p${w}-${i}`, 0)])
          probe++
        }
      })
    )
    const maxRate = probe / 2
    const publishRate = Math.max(1, Math.floor(maxRate / 2))
    options.log(`  max single-event rate ${Math.round(maxRate)}/s; latency run at ${publishRate}/s`)

    // Latency: subscribers first, at the current end of the log, then paced publishing.
    const topic = "latency"
    const lat = { topic: [] as Array<number>, all: [] as Array<number> }
    const follow = async (
      source: AsyncIterable<{ readonly topic: string; readonly payload: Record<string, unknown> }>,
      into: Array<number>
    ) => {
      for await (const e of source) {
        if (e.topic !== topic) continue
        into.push(Date.now() - Number(e.payload["sent"]))
        if (into.length >= options.latencyEvents) return
      }
    }
    const signal = abort.signal
    const start = await client.read({ limit: 1, since: "9999-01-01T00:00:00Z" })
    const followers = [
      follow(client.subscribe(topic, { after: 0, signal }), lat.topic),
      follow(client.subscribe({ all: true }, { after: start.next_after, signal }), lat.all)
    ]
    await sleep(200)
    const interval = 1000 / publishRate
    const began = performance.now()
    for (let i = 0; i < options.latencyEvents; i++) {
      const due = began + i * interval
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      void client.publish([event(topic, `l${i}`, Date.now())])
    }
    await Promise.all(followers)

    // Fan-out: many subscribers of one topic, batches of 100 published as fast as they are answered.
    const fan = "fanout"
    let delivered = 0
    const subs = Array.from({ length: options.fanOutSubscribers }, async () => {
      let n = 0
      for await (const _ of client.subscribe(fan, { after: 0, signal })) {
        delivered++
        if (++n >= options.fanOutEvents) return
      }
    })
    await sleep(500)
    const cpuBefore = cpuSeconds(api.child.pid) ?? 0
    const t0 = performance.now()
    for (let i = 0; i < options.fanOutEvents; i += 100) {
      const batch = Array.from({ length: Math.min(100, options.fanOutEvents - i) }, (_, j) =>
        event(fan, `f${i + j}`, 0)
      )
      await client.publish(batch)
    }
    await Promise.all(subs)
    const seconds = (performance.now() - t0) / 1000
    const cpuMs = ((cpuSeconds(api.child.pid) ?? cpuBefore) - cpuBefore) * 1000
    const summary = (name: "topic" | "all topics", values: Array<number>) => ({
      subscriber: name,
      events: values.length,
      p50Ms: quantile(values, 0.5),
      p99Ms: quantile(values, 0.99)
    })
    return {
      maxRate,
      publishRate,
      latency: [summary("topic", lat.topic), summary("all topics", lat.all)],
      fanOut: {
        subscribers: options.fanOutSubscribers,
        events: options.fanOutEvents,
        deliveredPerSec: delivered / seconds,
        apiCpuMsPer1000: (cpuMs / delivered) * 1000
      }
    }
  } finally {
    abort.abort()
    await stop(api.child)
    rmSync(dataDir, { recursive: true, force: true })
  }
}
