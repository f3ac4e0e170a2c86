#!/usr/bin/env node
/**
 * The publisher CLI: flags (effect/cli, validated, exit 2 on a bad value naming the flag), then one load run
 * (Run.ts). Progress on stderr; the summary on stdout, as text or `--json`. Exit 0 when everything was accepted
 * (and verified with `--verify`), 1 on a failed run or a verify mismatch, 2 on bad flags.
 * Deliberately not here: any load, retry or verify logic.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { formatSummary } from "./Report.ts"
import { runLoad } from "./Run.ts"

const intAtLeast = (name: string, min: number, fallback: number, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(`${description} (default ${fallback})`),
    Flag.filter(
      (n) => n >= min,
      (n) => `--${name} must be an integer >= ${min}, got ${n}`
    ),
    Flag.withDefault(fallback)
  )

const flags = {
  url: Flag.String("url").pipe(
    Flag.withDescription("base URL of the API (default http://127.0.0.1:8080)"),
    Flag.filter(
      (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
      (u) => `--url must be an http(s) URL, got ${JSON.stringify(u)}`
    ),
    Flag.withDefault("http://127.0.0.1:8080")
  ),
  events: intAtLeast("events", 1, 10_000, "events to send, duplicates included"),
  duplicates: Flag.Finite("duplicates").pipe(
    Flag.withDescription("share of the events that are exact resends of earlier ones, 0..1 (default 0)"),
    Flag.filter(
      (x) => x >= 0 && x <= 1,
      (x) => `--duplicates must be a ratio between 0 and 1, got ${x}`
    ),
    Flag.withDefault(0)
  ),
  batch: intAtLeast("batch", 1, 100, "events per request"),
  concurrency: intAtLeast("concurrency", 1, 8, "requests in flight at once"),
  topics: intAtLeast("topics", 1, 4, "topics to spread the events over (named t<k>-<run id>)"),
  rate: Flag.Finite("rate").pipe(
    Flag.withDescription("cap on events/s (default: no cap)"),
    Flag.filter(
      (x) => x > 0,
      (x) => `--rate must be > 0 events/s, got ${x}`
    ),
    Flag.optional
  ),
  apiKey: Flag.String("api-key").pipe(Flag.withDescription("bearer token for the API (default: none)"), Flag.optional),
  seed: Flag.Int("seed").pipe(Flag.withDescription("seed of the generator (default 1)"), Flag.withDefault(1)),
  runId: Flag.String("run-id").pipe(
    Flag.withDescription("run id in topic names and event ids (default: random); reuse it to resend a run"),
    Flag.filter(
      (s) => /^[A-Za-z0-9_.-]{1,64}$/.test(s),
      (s) => `--run-id must be 1-64 characters of [A-Za-z0-9_.-], got ${JSON.stringify(s)}`
    ),
    Flag.optional
  ),
  verify: Flag.Boolean("verify").pipe(
    Flag.withDescription("wait for pending == 0, then check /stats and /events against what was sent"),
    Flag.withDefault(false)
  ),
  verifyTimeout: intAtLeast("verify-timeout", 1, 120, "seconds to wait for the drain with --verify"),
  maxAttempts: intAtLeast("max-attempts", 1, 8, "attempts per request, the first included"),
  timeout: intAtLeast("timeout", 1, 30_000, "per-attempt request timeout in ms"),
  json: Flag.Boolean("json").pipe(Flag.withDescription("print the summary as JSON on stdout"), Flag.withDefault(false))
}

const command = Command.make("agg-publisher", flags, (f) =>
  Effect.gen(function* () {
    const runId = Option.getOrElse(f.runId, () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`)
    // The signal aborts in-flight requests when the fiber is interrupted (Ctrl-C / SIGTERM via runMain).
    const outcome = yield* Effect.tryPromise((signal) =>
      runLoad(
        {
          url: f.url,
          apiKey: Option.getOrUndefined(f.apiKey),
          events: f.events,
          duplicates: f.duplicates,
          batch: f.batch,
          concurrency: f.concurrency,
          topics: f.topics,
          rate: Option.getOrUndefined(f.rate),
          seed: f.seed,
          runId,
          verify: f.verify,
          verifyTimeoutMs: f.verifyTimeout * 1000,
          maxAttempts: f.maxAttempts,
          timeoutMs: f.timeout
        },
        process.stderr,
        signal
      )
    )
    yield* Effect.sync(() => {
      if (outcome.error !== undefined) process.stderr.write(`error: ${outcome.error}\n`)
      process.stdout.write(
        f.json
          ? `${JSON.stringify({ ...outcome.summary, error: outcome.error ?? null })}\n`
          : formatSummary(outcome.summary)
      )
      process.exitCode = outcome.exitCode
    })
  }).pipe(
    // The run could not start (e.g. /stats unreachable before --verify): a message, not a stack trace.
    Effect.catchTag("UnknownError", (e) =>
      Effect.sync(() => {
        const cause = e.cause instanceof Error ? e.cause.message : String(e.cause)
        process.stderr.write(`error: ${cause}\n`)
        process.exitCode = 1
      })
    )
  )
)

// `pnpm start -- --events 5` hands the script a literal "--" first (SPEC §8 uses that form): drop it.
const argv = process.argv.slice(2)
const args = argv[0] === "--" ? argv.slice(1) : argv

Command.runWith(command, { version: "0.1.0" })(args).pipe(
  // Parse errors are already rendered with the help text by effect/cli; bad usage exits 2.
  Effect.catch(() =>
    Effect.sync(() => {
      process.exitCode = 2
    })
  ),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
