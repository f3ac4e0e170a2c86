/**
 * `agg-publisher tail <topic>`: print a topic's events live, one JSON line each on stdout, from `after` (or
 * `since`, or the start); the client reconnects and resumes by itself after a disconnect, each event printed
 * once. Reconnections are noted on stderr. Runs until the signal aborts (Ctrl-C).
 * Deliberately not here: flag parsing (bin.ts) and any retry logic (the client's).
 */
import { createClient } from "@agg/client"
import type { Sink } from "./Report.ts"

/** Validated settings of `tail`. @category models */
export interface TailConfig {
  readonly url: string
  readonly apiKey: string | undefined
  /** A topic, or undefined for every topic. */
  readonly topic: string | undefined
  readonly after: number | undefined
  readonly since: string | undefined
}

/** Prints events until `signal` aborts; resolves then. Fails on a non-retryable answer (bad topic, bad key). @category constructors */
export const runTail = async (config: TailConfig, out: Sink, err: Sink, signal: AbortSignal): Promise<void> => {
  const client = createClient({
    url: config.url,
    apiKey: config.apiKey,
    onReconnect: (info) =>
      err.write(`tail: ${info.reason}; reconnecting in ${info.delayMs} ms after ${info.after ?? "the start"}\n`)
  })
  const target = config.topic === undefined ? { all: true as const } : config.topic
  for await (const event of client.subscribe(target, { after: config.after, since: config.since, signal })) {
    out.write(`${JSON.stringify(event)}\n`)
  }
}
