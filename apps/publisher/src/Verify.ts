/**
 * `--verify`: after a run, wait for the server to drain (`pending == 0`), then prove it holds exactly what was
 * sent: /stats deltas against the stats read before the run, and every topic of the run paged from /events with
 * each expected id present once, the same content, and offsets exactly 1..count.
 *
 * Exact for this run's topics whatever else the server holds (topics embed the run id). The /stats deltas assume
 * no other publisher writes during the run; retries that may have reached the server (ambiguous) widen the
 * accepted range of `received` and `duplicate_dropped` by the events they carried, never `unique_processed`.
 * Deliberately not here: sending events or retrying a failed check.
 */

import type { Client, StatsBody } from "@agg/client"
import type { StoredEvent } from "@agg/schema"
import { keyOf, type Truth } from "./Generator.ts"

/** Inputs of {@link verifyRun}. @category models */
export interface VerifyInput {
  readonly client: Client
  readonly truth: Truth
  /** /stats read before the first publish. */
  readonly before: StatsBody
  /** Events in requests that got a 2xx, and the sum of their `accepted`. */
  readonly sent: number
  readonly accepted: number
  /** Events carried by failed attempts the server may have acted on (network errors, timeouts, 5xx but 503). */
  readonly ambiguousEvents: number
  readonly drainTimeoutMs: number
  readonly pollMs?: number
  /** Called on each /stats poll while draining, and once per topic checked. */
  readonly onProgress?: (phase: "drain" | "events", done: number, total: number) => void
}

/** The verdict. @category models */
export interface VerifyResult {
  readonly ok: boolean
  readonly mismatches: ReadonlyArray<string>
  readonly drainMs: number
  readonly after: StatsBody | undefined
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// jsonb may reorder object keys: compare values with keys sorted.
const canonical = (x: unknown): string =>
  JSON.stringify(x, (_key, value: unknown) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value
  )

const inRange = (name: string, actual: number, low: number, high: number, out: Array<string>) => {
  if (actual < low || actual > high)
    out.push(
      low === high
        ? `${name}: expected ${low}, got ${actual}`
        : `${name}: expected between ${low} and ${high}, got ${actual}`
    )
}

/**
 * Polls /stats until `pending == 0` and every received event is counted, or `timeoutMs` passes. Returns the last
 * stats and whether it drained.
 * @category constructors
 */
export const waitForDrain = async (
  client: Client,
  timeoutMs: number,
  pollMs = 200,
  onPoll?: (stats: StatsBody) => void
): Promise<{ readonly stats: StatsBody; readonly drained: boolean; readonly elapsedMs: number }> => {
  const start = performance.now()
  for (;;) {
    const stats = await client.stats()
    onPoll?.(stats)
    const elapsedMs = performance.now() - start
    // The store's totals may trail the stream by a moment (PostgreSQL: an aggregate re-read about once a second):
    // drained means nothing pending and every accepted event counted somewhere.
    const counted =
      stats.unique_processed + stats.duplicate_dropped + (stats.dead_lettered ?? 0) + (stats.discarded ?? 0)
    if (stats.pending === 0 && counted >= stats.received) return { stats, drained: true, elapsedMs }
    if (elapsedMs >= timeoutMs) return { stats, drained: false, elapsedMs }
    await sleep(pollMs)
  }
}

/** Checks one topic's stored events against the expected ids; appends mismatches. */
const verifyTopic = async (input: VerifyInput, topic: string, ids: ReadonlyArray<string>, out: Array<string>) => {
  const seen = new Map<string, number>()
  const problems: Array<string> = []
  let expectedOffset = 1
  for await (const page of input.client.pages({ topic, after: 0, limit: 1000 })) {
    for (const event of page.events as ReadonlyArray<StoredEvent>) {
      if (event.topic !== topic) problems.push(`event ${event.event_id} served with topic ${event.topic}`)
      if (event.offset !== expectedOffset) {
        problems.push(`offset ${event.offset} where ${expectedOffset} was expected (event ${event.event_id})`)
        expectedOffset = event.offset
      }
      expectedOffset++
      seen.set(event.event_id, (seen.get(event.event_id) ?? 0) + 1)
      const original = input.truth.byKey.get(keyOf(event))
      if (original === undefined) problems.push(`unexpected event ${event.event_id}`)
      else if (
        canonical(original.payload) !== canonical(event.payload) ||
        original.source !== event.source ||
        new Date(original.timestamp).getTime() !== new Date(event.timestamp).getTime()
      )
        problems.push(`event ${event.event_id} stored with different content`)
    }
  }
  const missing = ids.filter((id) => !seen.has(id))
  const doubled = [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`)
  if (missing.length > 0) problems.push(`${missing.length} missing (e.g. ${missing.slice(0, 5).join(", ")})`)
  if (doubled.length > 0)
    problems.push(`${doubled.length} served more than once (e.g. ${doubled.slice(0, 5).join(", ")})`)
  const stored = [...seen.values()].reduce((a, b) => a + b, 0)
  if (stored !== ids.length) problems.push(`${stored} events stored, ${ids.length} expected`)
  // Cap the report per topic: the first few problems locate the fault.
  for (const p of problems.slice(0, 10)) out.push(`topic ${topic}: ${p}`)
  if (problems.length > 10) out.push(`topic ${topic}: … and ${problems.length - 10} more problems`)
}

/**
 * Waits for the drain, then checks stats and events. Never throws on a mismatch: it lists them.
 * @category constructors
 */
export const verifyRun = async (input: VerifyInput): Promise<VerifyResult> => {
  const out: Array<string> = []
  const { truth, before } = input
  const drain = await waitForDrain(input.client, input.drainTimeoutMs, input.pollMs, (s) =>
    input.onProgress?.("drain", Math.max(0, input.sent - s.pending), input.sent)
  )
  const after = drain.stats
  if (!drain.drained)
    out.push(`pending is still ${after.pending} after ${Math.round(input.drainTimeoutMs / 1000)} s (not drained)`)

  // The stats identity (docs/invariants.md) on the whole server, then this run's deltas.
  if (after.received !== after.unique_processed + after.duplicate_dropped + after.pending)
    out.push(
      `stats invariant broken: received ${after.received} != unique_processed ${after.unique_processed} + duplicate_dropped ${after.duplicate_dropped} + pending ${after.pending}`
    )
  if (before.pending > 0)
    out.push(`note: ${before.pending} events were already pending before the run; deltas may include them`)
  const slack = input.ambiguousEvents
  inRange("accepted (sum of answers)", input.accepted, input.sent, input.sent, out)
  inRange("received delta", after.received - before.received, input.sent, input.sent + slack, out)
  inRange("unique_processed delta", after.unique_processed - before.unique_processed, truth.unique, truth.unique, out)
  inRange(
    "duplicate_dropped delta",
    after.duplicate_dropped - before.duplicate_dropped,
    truth.duplicates,
    truth.duplicates + slack,
    out
  )
  inRange("conflicts delta", after.conflicts - before.conflicts, 0, 0, out)
  const listed = new Set(after.topics)
  const missingTopics = [...truth.perTopic.keys()].filter((t) => !listed.has(t))
  if (missingTopics.length > 0) out.push(`/stats topics lacks ${missingTopics.join(", ")}`)

  let checked = 0
  for (const [topic, ids] of truth.perTopic) {
    await verifyTopic(input, topic, ids, out)
    input.onProgress?.("events", ++checked, truth.perTopic.size)
  }
  return { ok: out.every((m) => m.startsWith("note:")), mismatches: out, drainMs: Math.round(drain.elapsedMs), after }
}
