/**
 * What the publisher shows while it runs and when it ends: a redrawn progress bar on a TTY, plain periodic lines
 * otherwise, and a final summary (sent, accepted, retries, events/s, per-request latency p50/p99) as text or JSON.
 *
 * Progress goes to a sink the caller chooses (stderr in the CLI) so stdout carries only the summary, which the
 * bench can parse with `--json`. Deliberately not here: measuring (the runner records) or any network I/O.
 */

/** Where progress is written: `process.stderr` fits. @category models */
export interface Sink {
  readonly write: (text: string) => unknown
  readonly isTTY?: boolean | undefined
}

/** The run's figures, as printed and as `--json` emits them. @category models */
export interface Summary {
  readonly runId: string
  readonly url: string
  /** Events handed to the server in successful requests (duplicates included). */
  readonly sent: number
  /** Sum of `accepted` over successful requests. */
  readonly accepted: number
  /** Events of the generated load that never got a 2xx (0 on a clean run). */
  readonly failed: number
  readonly requests: number
  /** Retried attempts, all requests together; `ambiguousRetries` of them may have reached the server. */
  readonly retries: number
  readonly ambiguousRetries: number
  readonly expected: { readonly unique: number; readonly duplicates: number; readonly topics: number }
  readonly elapsedMs: number
  readonly eventsPerSecond: number
  /** Per publish request, retries included, in ms. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly mean: number }
  readonly verify?: { readonly ok: boolean; readonly mismatches: ReadonlyArray<string>; readonly drainMs: number }
}

/**
 * The nearest-rank percentile of an ascending array (`p` in [0, 100]); 0 for an empty array.
 * @category constructors
 */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number
}

/** p50/p99/max/mean of raw latencies (any order). @category constructors */
export const latencySummary = (latencies: ReadonlyArray<number>): Summary["latencyMs"] => {
  const sorted = [...latencies].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 100) / 100
  const mean = sorted.length === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / sorted.length
  return {
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
    mean: round(mean)
  }
}

/** The summary as aligned text lines. @category constructors */
export const formatSummary = (s: Summary): string => {
  const n = (x: number) => x.toLocaleString("en-US")
  const lines = [
    `run ${s.runId} → ${s.url}`,
    `  sent        ${n(s.sent)} events in ${n(s.requests)} requests (${n(s.failed)} failed)`,
    `  accepted    ${n(s.accepted)}`,
    `  expected    ${n(s.expected.unique)} unique + ${n(s.expected.duplicates)} duplicates over ${s.expected.topics} topics`,
    `  retries     ${n(s.retries)} (${n(s.ambiguousRetries)} ambiguous)`,
    `  throughput  ${n(Math.round(s.eventsPerSecond))} events/s over ${(s.elapsedMs / 1000).toFixed(2)} s`,
    `  latency     p50 ${s.latencyMs.p50} ms · p99 ${s.latencyMs.p99} ms · max ${s.latencyMs.max} ms (per request)`
  ]
  if (s.verify) {
    lines.push(`  verify      ${s.verify.ok ? "OK" : "FAILED"} (drained in ${(s.verify.drainMs / 1000).toFixed(2)} s)`)
    for (const m of s.verify.mismatches) lines.push(`    ✗ ${m}`)
  }
  return `${lines.join("\n")}\n`
}

/** A progress display: call `update` as often as you like; it draws at most every `intervalMs`. @category models */
export interface Progress {
  readonly update: (done: number, note?: string) => void
  /** Draws the final state and ends the line on a TTY. */
  readonly done: () => void
}

/**
 * Progress of `total` units labelled `label`. On a TTY: one bar redrawn in place (~10/s). Otherwise: a plain
 * line every `intervalMs` (default 1 s), so CI logs stay readable.
 * @category constructors
 */
export const makeProgress = (
  sink: Sink,
  options: {
    readonly label: string
    readonly total: number
    readonly unit?: string
    readonly intervalMs?: number
    /** Show units/s (default true); off where the count is not work done by this process. */
    readonly rate?: boolean
    readonly now?: () => number
  }
): Progress => {
  const tty = sink.isTTY === true
  const now = options.now ?? (() => performance.now())
  const interval = options.intervalMs ?? (tty ? 100 : 1000)
  const unit = options.unit ?? "events"
  const start = now()
  let last = Number.NEGATIVE_INFINITY
  let current = 0
  let drawn = -1
  let lastNote = ""

  const line = () => {
    const elapsed = (now() - start) / 1000
    const rate = options.rate === false ? "" : ` ${elapsed > 0 ? Math.round(current / elapsed) : 0}/s`
    const pct = options.total > 0 ? Math.min(100, (100 * current) / options.total) : 100
    const note = lastNote ? ` ${lastNote}` : ""
    if (!tty)
      return `${options.label}: ${current}/${options.total} ${unit} (${pct.toFixed(0)}%)${rate} ${elapsed.toFixed(1)}s${note}\n`
    const width = 30
    const filled = Math.round((pct / 100) * width)
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`
    return `\r\x1b[2K${options.label} ${bar} ${pct.toFixed(0).padStart(3)}% ${current}/${options.total}${rate}${note}`
  }

  return {
    update: (done, note) => {
      current = done
      if (note !== undefined) lastNote = note
      const t = now()
      if (t - last < interval) return
      last = t
      drawn = current
      sink.write(line())
    },
    done: () => {
      // Plain output: skip a final line identical in count to the last one drawn.
      if (tty || drawn !== current) sink.write(line())
      if (tty) sink.write("\n")
    }
  }
}
