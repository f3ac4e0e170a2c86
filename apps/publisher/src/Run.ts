/**
 * The load run behind the CLI: generate the events, publish the batches with bounded concurrency and an optional
 * events/s cap, record latency and retries, then (optionally) verify. Returns the summary and the exit code.
 *
 * Plain async code over the promise-based client; the CLI (bin.ts) wraps it once. The first request that fails
 * for good (a 4xx, or retries exhausted) stops the run: later batches would fail the same way.
 * Deliberately not here: flag parsing (bin.ts) and formatting (Report.ts).
 */
import { ClientError, createClient, type StatsBody } from "@agg/client"
import { generate } from "./Generator.ts"
import { latencySummary, makeProgress, type Sink, type Summary } from "./Report.ts"
import { verifyRun } from "./Verify.ts"

/** Validated settings of one run (the CLI flags). @category models */
export interface RunConfig {
  readonly url: string
  readonly apiKey: string | undefined
  readonly events: number
  readonly duplicates: number
  readonly batch: number
  readonly concurrency: number
  readonly topics: number
  /** Events/s cap; undefined = as fast as possible. */
  readonly rate: number | undefined
  readonly seed: number
  readonly runId: string
  readonly verify: boolean
  readonly verifyTimeoutMs: number
  readonly maxAttempts: number
  readonly timeoutMs: number
}

/** The outcome: exit code 0 (all sent, verified if asked), 1 otherwise. @category models */
export interface RunOutcome {
  readonly summary: Summary
  readonly exitCode: 0 | 1
  /** The error that stopped the run, if any. */
  readonly error: string | undefined
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Runs the load and returns its summary. Progress goes to `progressSink`; nothing is written to stdout.
 * @category constructors
 */
export const runLoad = async (config: RunConfig, progressSink: Sink, signal?: AbortSignal): Promise<RunOutcome> => {
  let retries = 0
  let ambiguousRetries = 0
  let ambiguousEvents = 0
  const client = createClient({
    url: config.url,
    apiKey: config.apiKey,
    timeoutMs: config.timeoutMs,
    // The generator already cut the batches: each is one request.
    batchSize: Math.max(1, config.batch),
    retry: { maxAttempts: config.maxAttempts },
    onRetry: (info) => {
      retries++
      if (info.ambiguous) ambiguousRetries++
    }
  })
  const { batches, truth } = generate({
    events: config.events,
    topics: config.topics,
    duplicateRatio: config.duplicates,
    batchSize: config.batch,
    seed: config.seed,
    runId: config.runId
  })

  const opts = signal === undefined ? {} : { signal }
  const before: StatsBody | undefined = config.verify ? await client.stats(opts) : undefined

  const progress = makeProgress(progressSink, { label: "publish", total: config.events })
  const latencies: Array<number> = []
  let sent = 0
  let accepted = 0
  let next = 0
  let error: string | undefined
  // Rate cap: each batch reserves a start slot `batch.length / rate` seconds after the previous one.
  let nextSlot = performance.now()
  const start = performance.now()

  const worker = async () => {
    while (error === undefined && next < batches.length && signal?.aborted !== true) {
      const batch = batches[next++] ?? []
      if (config.rate !== undefined) {
        const slot = Math.max(nextSlot, performance.now())
        nextSlot = slot + (batch.length / config.rate) * 1000
        const wait = slot - performance.now()
        if (wait > 0) await sleep(wait)
      }
      const t0 = performance.now()
      try {
        const result = await client.publish(batch, opts)
        latencies.push(performance.now() - t0)
        sent += batch.length
        accepted += result.accepted
        // Each ambiguous failed attempt may have delivered this whole batch once more.
        ambiguousEvents += result.ambiguousAttempts * batch.length
      } catch (e) {
        // No verify after a failed run, so the ambiguous attempts of a failed request need no accounting.
        error ??= e instanceof ClientError ? e.message : String(e)
      }
      progress.update(sent, retries > 0 ? `retries ${retries}` : undefined)
    }
  }
  await Promise.all(Array.from({ length: Math.min(config.concurrency, batches.length) }, worker))
  progress.done()
  const elapsedMs = performance.now() - start
  // Failed requests and batches never attempted after a fatal error.
  const failed = config.events - sent

  let verify: Summary["verify"]
  if (config.verify && before !== undefined && error === undefined) {
    const drainProgress = makeProgress(progressSink, { label: "drain", total: sent, unit: "processed", rate: false })
    const result = await verifyRun({
      client,
      truth,
      before,
      sent,
      accepted,
      ambiguousEvents,
      drainTimeoutMs: config.verifyTimeoutMs,
      onProgress: (phase, done) => {
        if (phase === "drain") drainProgress.update(done)
      }
    })
    drainProgress.done()
    verify = { ok: result.ok, mismatches: result.mismatches, drainMs: result.drainMs }
  }

  const summary: Summary = {
    runId: config.runId,
    url: config.url,
    sent,
    accepted,
    failed,
    requests: latencies.length,
    retries,
    ambiguousRetries,
    expected: { unique: truth.unique, duplicates: truth.duplicates, topics: truth.perTopic.size },
    elapsedMs: Math.round(elapsedMs),
    eventsPerSecond: elapsedMs > 0 ? Math.round((sent / elapsedMs) * 1000) : 0,
    latencyMs: latencySummary(latencies),
    ...(verify ? { verify } : {})
  }
  const ok = error === undefined && (verify === undefined || verify.ok)
  return { summary, exitCode: ok ? 0 : 1, error }
}
