#!/usr/bin/env node
/**
 * The publisher CLI: flags (effect/cli, validated, exit 2 on a bad value naming the flag), then one load run
 * (Run.ts). Progress on stderr; the summary on stdout, as text or `--json`. Exit 0 when everything was accepted
 * (and verified with `--verify`), 1 on a failed run or a verify mismatch, 2 on bad flags.
 * `agg-publisher tail <topic>` (or `tail --all`) prints events live instead (Tail.ts) until Ctrl-C.
 * `agg-publisher conflicts` and `agg-publisher dead-letters list | redrive | discard` show and handle what went
 * wrong (Inspect.ts).
 * Deliberately not here: any load, retry, verify or streaming logic.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { runConflicts, runDeadLetters } from "./Inspect.ts"
import { formatSummary } from "./Report.ts"
import { runLoad } from "./Run.ts"
import { runTail } from "./Tail.ts"

const intAtLeast = (name: string, min: number, fallback: number, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(`${description} (default ${fallback})`),
    Flag.filter(
      (n) => n >= min,
      (n) => `--${name} must be an integer >= ${min}, got ${n}`
    ),
    Flag.withDefault(fallback)
  )

const url = Flag.String("url").pipe(
  Flag.withDescription("base URL of the API (default http://127.0.0.1:8080)"),
  Flag.filter(
    (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
    (u) => `--url must be an http(s) URL, got ${JSON.stringify(u)}`
  ),
  Flag.withDefault("http://127.0.0.1:8080")
)
const apiKey = Flag.String("api-key").pipe(
  Flag.withDescription("bearer token for the API (default: none)"),
  Flag.optional
)

const flags = {
  url,
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
  apiKey,
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

const tail = Command.make(
  "agg-publisher tail",
  {
    topic: Argument.String("topic").pipe(Argument.withDescription("the topic to follow"), Argument.optional),
    all: Flag.Boolean("all").pipe(Flag.withDescription("follow every topic instead of one"), Flag.withDefault(false)),
    url,
    apiKey,
    after: Flag.Int("after").pipe(
      Flag.withDescription("start after this offset (topic) or position (--all); default: from the start"),
      Flag.filter(
        (n) => n >= 0,
        (n) => `--after must be an integer >= 0, got ${n}`
      ),
      Flag.optional
    ),
    since: Flag.String("since").pipe(
      Flag.withDescription("start at the first event received at or after this ISO time"),
      Flag.optional
    )
  },
  (f) =>
    Effect.tryPromise((signal) =>
      runTail(
        {
          url: f.url,
          apiKey: Option.getOrUndefined(f.apiKey),
          topic: f.all ? undefined : Option.getOrUndefined(f.topic),
          after: Option.getOrUndefined(f.after),
          since: Option.getOrUndefined(f.since)
        },
        process.stdout,
        process.stderr,
        signal
      )
    ).pipe(
      Effect.catchTag("UnknownError", (e) =>
        Effect.sync(() => {
          process.stderr.write(`error: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}\n`)
          process.exitCode = 1
        })
      )
    )
).pipe(
  Command.withDescription("print events live as they commit; resumes by itself after a disconnect (Ctrl-C to stop)")
)

// A failed call (refused, unreachable): its message on stderr, exit 1.
const reportFailure = <A, R>(
  effect: Effect.Effect<A, { readonly _tag: "UnknownError"; readonly cause?: unknown }, R>
) =>
  effect.pipe(
    Effect.catchTag("UnknownError", (e) =>
      Effect.sync(() => {
        process.stderr.write(`error: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}\n`)
        process.exitCode = 1
      })
    )
  )

const limit = Flag.Int("limit").pipe(
  Flag.withDescription("at most this many per page, 1-1000 (default 100)"),
  Flag.filter(
    (n) => n >= 1 && n <= 1000,
    (n) => `--limit must be an integer from 1 to 1000, got ${n}`
  ),
  Flag.optional
)

const conflicts = Command.make(
  "agg-publisher conflicts",
  {
    url,
    apiKey,
    topic: Flag.String("topic").pipe(Flag.withDescription("only this topic's conflicts"), Flag.optional),
    after: Flag.Int("after").pipe(
      Flag.withDescription("start after this position (the previous page's next_after)"),
      Flag.filter(
        (n) => n >= 0,
        (n) => `--after must be an integer >= 0, got ${n}`
      ),
      Flag.optional
    ),
    limit
  },
  (f) =>
    reportFailure(
      Effect.tryPromise(() =>
        runConflicts(
          {
            url: f.url,
            apiKey: Option.getOrUndefined(f.apiKey),
            topic: Option.getOrUndefined(f.topic),
            after: Option.getOrUndefined(f.after),
            limit: Option.getOrUndefined(f.limit)
          },
          process.stdout,
          process.stderr
        )
      )
    )
).pipe(Command.withDescription("print one page of rejected later versions of keys, one JSON line each"))

const deadLetters = Command.make(
  "agg-publisher dead-letters",
  {
    action: Argument.Literals("action", ["list", "redrive", "discard"] as const).pipe(
      Argument.withDescription("list a page, redrive (append back to the stream) or discard for good")
    ),
    ids: Argument.String("id").pipe(
      Argument.withDescription("dead-letter ids to redrive or discard"),
      Argument.variadic()
    ),
    all: Flag.Boolean("all").pipe(
      Flag.withDescription("redrive or discard every dead letter"),
      Flag.withDefault(false)
    ),
    after: Flag.String("after").pipe(
      Flag.withDescription("list: start after this dead-letter id (the previous page's next_after)"),
      Flag.optional
    ),
    limit,
    url,
    apiKey
  },
  (f) => {
    const target = { url: f.url, apiKey: Option.getOrUndefined(f.apiKey) }
    if (f.action !== "list" && (f.all ? f.ids.length > 0 : f.ids.length === 0)) {
      return Effect.sync(() => {
        process.stderr.write(`error: dead-letters ${f.action} takes ids or --all (not both)\n`)
        process.exitCode = 2
      })
    }
    return reportFailure(
      Effect.tryPromise(() =>
        runDeadLetters(
          f.action === "list"
            ? {
                ...target,
                action: "list",
                after: Option.getOrUndefined(f.after),
                limit: Option.getOrUndefined(f.limit)
              }
            : { ...target, action: f.action, ids: f.all ? "all" : f.ids },
          process.stdout,
          process.stderr
        )
      )
    )
  }
).pipe(
  Command.withDescription(
    "list dead letters (one JSON line each), or redrive / discard them by id or --all (an admin key is needed)"
  )
)

// `pnpm start -- --events 5` hands the script a literal "--" first (the form this package's README shows): drop it.
const argv = process.argv.slice(2)
const args = argv[0] === "--" ? argv.slice(1) : argv

// `tail`, `conflicts` and `dead-letters` are commands of their own (the load run's flags mean nothing to them).
const run = (name: string | undefined, rest: ReadonlyArray<string>) => {
  switch (name) {
    case "tail":
      return Command.runWith(tail, { version: "0.1.0" })(rest)
    case "conflicts":
      return Command.runWith(conflicts, { version: "0.1.0" })(rest)
    case "dead-letters":
      return Command.runWith(deadLetters, { version: "0.1.0" })(rest)
    default:
      return Command.runWith(command, { version: "0.1.0" })(args)
  }
}
run(args[0], args.slice(1)).pipe(
  // Parse errors are already rendered with the help text by effect/cli; bad usage exits 2.
  Effect.catch(() =>
    Effect.sync(() => {
      process.exitCode = 2
    })
  ),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
