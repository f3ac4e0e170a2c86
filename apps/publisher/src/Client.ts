/**
 * The reference HTTP client of the aggregator (SPEC §4): publish with safe retries, read /stats and /events.
 *
 * Plain TypeScript over the global `fetch` (Node 24 / undici), so any service can import it without Effect.
 * A retry resends the exact same request body: events keep their `(topic, event_id)`, so the server's dedup makes
 * the retry safe (at-least-once delivery, exactly-once effect).
 *
 * Retried: network errors, per-attempt timeouts, 5xx and 429. `Retry-After` (seconds or HTTP date) is honoured as
 * the delay; otherwise capped exponential backoff with full jitter: `random() * min(maxDelayMs, baseDelayMs * 2^n)`.
 * Not retried: any other 4xx (400/401/413/415 …), which fails with a {@link PublishError} carrying the body's problems.
 * Successful answers are checked against `@agg/schema`'s response schemas: one that does not match fails with a
 * `BAD_RESPONSE` error naming every mismatch.
 *
 * Deliberately not here: batching/splitting of large inputs (the caller chooses batch sizes), client-side
 * validation of events (the server is the authority), connection pooling knobs (undici's defaults).
 */
import {
  checkResponse,
  DEFAULT_PAGE_LIMIT,
  ErrorBody,
  type EventInput,
  EventsPage,
  type Problem,
  PublishReply,
  StatsBody,
  summarizeProblems
} from "@agg/schema"
import type * as v from "valibot"

export type { EventsPage, Problem, StatsBody } from "@agg/schema"

/** Backoff settings. `maxAttempts` counts the first try (1 = never retry). @category models */
export interface RetryOptions {
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

/** Passed to `onRetry` before each wait: which attempt failed, why, and how long the client will wait. @category models */
export interface RetryInfo {
  readonly method: string
  readonly path: string
  /** The attempt that just failed, from 1. */
  readonly attempt: number
  readonly delayMs: number
  /** HTTP status of the failed attempt; undefined for a network error or timeout. */
  readonly status: number | undefined
  readonly reason: string
  /** True when the server may have acted on the failed attempt (network error, timeout, 5xx other than 503). */
  readonly ambiguous: boolean
}

/** Options of {@link createPublisher}. @category models */
export interface PublisherOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8080`. */
  readonly url: string
  /** Sent as `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string | undefined
  /** Defaults: 8 attempts, 100 ms base, 5,000 ms cap. */
  readonly retry?: Partial<RetryOptions> | undefined
  /** Per-attempt timeout in ms (default 30,000); a timed-out attempt is retried like a network error. */
  readonly timeoutMs?: number | undefined
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** Called before each retry wait, for counting and logging. */
  readonly onRetry?: ((info: RetryInfo) => void) | undefined
  /** Uniform [0, 1) source for the jitter (default `Math.random`); tests may pin it. */
  readonly random?: (() => number) | undefined
  /** Upper bound on a server-requested `Retry-After` wait in ms (default 60,000). */
  readonly maxRetryAfterMs?: number | undefined
}

/** The answer to a successful publish. @category models */
export interface PublishResult {
  /** HTTP status (200 or 202). */
  readonly status: number
  /** Events the server accepted (`accepted` of the body). */
  readonly accepted: number
  /** Embedded mode only: events new to the store, and duplicates dropped. */
  readonly unique: number | undefined
  readonly duplicates: number | undefined
  /** Attempts used, from 1; `attempts - 1` retries. */
  readonly attempts: number
  /** Failed attempts that the server may nevertheless have acted on (see {@link RetryInfo.ambiguous}). */
  readonly ambiguousAttempts: number
}

/** GET /stats (SPEC §4): `@agg/schema`'s `StatsBody`, under the name this client has always used. @category models */
export type Stats = StatsBody

/** Query of GET /events; without `topic`, all topics in storage order. @category models */
export interface EventsQuery {
  readonly topic?: string | undefined
  readonly after?: number | undefined
  readonly limit?: number | undefined
}

/** The client returned by {@link createPublisher}. @category models */
export interface Publisher {
  /** POST /publish one event or a batch (sent as a JSON array); retried as described in the module header. */
  readonly publish: (
    events: EventInput | ReadonlyArray<EventInput>,
    options?: { readonly signal?: AbortSignal }
  ) => Promise<PublishResult>
  /** GET /stats (retried like publish: it is idempotent). */
  readonly stats: (options?: { readonly signal?: AbortSignal }) => Promise<Stats>
  /** GET /events: one page. */
  readonly events: (query?: EventsQuery, options?: { readonly signal?: AbortSignal }) => Promise<EventsPage>
  /**
   * Every page of a topic (or of all topics) from `after`, following `next_after`, until a page holds fewer events
   * than the limit asked (or the server's default): the reader has caught up.
   */
  readonly pages: (
    query?: EventsQuery,
    options?: { readonly signal?: AbortSignal }
  ) => AsyncIterableIterator<EventsPage>
}

/**
 * A request that failed for good: a non-retryable answer (4xx other than 429), or retries exhausted.
 * `code` is the body's stable `error.code` when it has one, else `HTTP_<status>`, `NETWORK_ERROR` or `TIMEOUT`.
 * @category errors
 */
export class PublishError extends Error {
  override readonly name = "PublishError"
  /** HTTP status of the last attempt; undefined for a network error or timeout. */
  readonly status: number | undefined
  readonly code: string
  /** The problems the API listed (`error.issues` of a 400: index, field path, message), else empty. */
  readonly problems: ReadonlyArray<Problem>
  readonly attempts: number
  /** True when the failure was retryable (the request gave up after `maxAttempts`). */
  readonly retryable: boolean
  /** The parsed response body, if any. */
  readonly body: unknown
  constructor(fields: {
    readonly status: number | undefined
    readonly code: string
    readonly message: string
    readonly problems?: ReadonlyArray<Problem>
    readonly attempts: number
    readonly retryable: boolean
    readonly body?: unknown
    readonly cause?: unknown
  }) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause })
    this.status = fields.status
    this.code = fields.code
    this.problems = fields.problems ?? []
    this.attempts = fields.attempts
    this.retryable = fields.retryable
    this.body = fields.body
  }
}

const defaultRetry: RetryOptions = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 5_000 }

/**
 * Parses a `Retry-After` value: delay-seconds or an HTTP date, as milliseconds from `now` (never negative).
 * Returns undefined when absent or unparseable.
 * @category constructors
 */
export const parseRetryAfter = (value: string | null, now: number = Date.now()): number | undefined => {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Full-jitter backoff delay before retry number `retry` (from 0). @category constructors */
export const backoffDelay = (retry: number, options: RetryOptions, random: () => number): number =>
  Math.floor(random() * Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry))

const isRetryableStatus = (status: number) => status === 429 || status >= 500

const validateOptions = (url: string, retry: RetryOptions, timeoutMs: number): URL => {
  if (!URL.canParse(url)) throw new TypeError(`createPublisher: url is not a valid URL: ${JSON.stringify(url)}`)
  const parsed = new URL(url)
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new TypeError(`createPublisher: url must be http(s), got ${parsed.protocol}`)
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1)
    throw new TypeError(`createPublisher: retry.maxAttempts must be an integer >= 1, got ${retry.maxAttempts}`)
  if (!(retry.baseDelayMs >= 0) || !(retry.maxDelayMs >= retry.baseDelayMs))
    throw new TypeError("createPublisher: retry delays must satisfy 0 <= baseDelayMs <= maxDelayMs")
  if (!(timeoutMs > 0)) throw new TypeError(`createPublisher: timeoutMs must be > 0, got ${timeoutMs}`)
  return parsed
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, ms)
    signal?.addEventListener("abort", onAbort, { once: true })
  })

const readBody = async (response: Response): Promise<unknown> => {
  const text = await response.text()
  if (text.length === 0) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const asRecord = (x: unknown): Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : {}

// The API answers with an `ErrorBody`; a body that is not one (a proxy's, a flat `{"code"}`) still lends its
// `code` and `message` when it has them.
const errorFieldsOf = (
  body: unknown
): { readonly code?: string; readonly message?: string; readonly issues?: ReadonlyArray<Problem> } => {
  const checked = checkResponse(ErrorBody, body)
  if (checked.ok) return checked.value.error
  const flat = asRecord(body)
  return {
    ...(typeof flat.code === "string" ? { code: flat.code } : {}),
    ...(typeof flat.message === "string" ? { message: flat.message } : {})
  }
}

/** The checked body of a successful answer, or a non-retryable `BAD_RESPONSE` naming every mismatch. */
const expectBody = <S extends v.GenericSchema>(
  schema: S,
  what: string,
  answer: { status: number; body: unknown; attempts: number }
): v.InferOutput<S> => {
  const checked = checkResponse(schema, answer.body)
  if (checked.ok) return checked.value
  throw new PublishError({
    status: answer.status,
    code: "BAD_RESPONSE",
    message: `${what} does not match the API's schema: ${summarizeProblems(checked.problems).replaceAll("\n", "; ")}`,
    problems: checked.problems,
    attempts: answer.attempts,
    retryable: false,
    body: answer.body
  })
}

const errorOf = (status: number, body: unknown, attempts: number): PublishError => {
  const fields = errorFieldsOf(body)
  const code = fields.code ?? `HTTP_${status}`
  const text = fields.message ?? ""
  const problems = fields.issues ?? []
  const listed = problems.map((p) => (p.index === null ? p.message : `[${p.index}] ${p.message}`)).join("; ")
  const detail = listed ? `: ${listed}` : text ? `: ${text}` : ""
  return new PublishError({
    status,
    code,
    message: `HTTP ${status} ${code}${detail}`,
    problems,
    attempts,
    retryable: isRetryableStatus(status),
    body
  })
}

/**
 * Creates the client. Options are validated here (a bad URL or retry setting throws a `TypeError` naming it).
 *
 * ```ts
 * import { createPublisher, PublishError } from "@agg/publisher"
 *
 * const client = createPublisher({ url: "http://127.0.0.1:8080", retry: { maxAttempts: 5 } })
 * try {
 *   const result = await client.publish([{ topic: "orders", event_id: "e-1", timestamp: new Date().toISOString(),
 *     source: "checkout", payload: { amount: 5 } }])
 *   console.log(result.accepted, result.attempts)
 * } catch (e) {
 *   if (e instanceof PublishError) console.error(e.status, e.code, e.problems)
 * }
 * for await (const page of client.pages({ topic: "orders" })) console.log(page.events.length)
 * ```
 * @category constructors
 */
export const createPublisher = (options: PublisherOptions): Publisher => {
  const retry: RetryOptions = { ...defaultRetry, ...options.retry }
  const timeoutMs = options.timeoutMs ?? 30_000
  const base = validateOptions(options.url, retry, timeoutMs)
  const doFetch = options.fetch ?? globalThis.fetch
  const random = options.random ?? Math.random
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000
  const headers: Record<string, string> = { accept: "application/json" }
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`

  // Plain concatenation keeps a path prefix of the base URL (`http://host/agg` → `http://host/agg/publish`).
  const root = `${base.origin}${base.pathname.replace(/\/+$/, "")}`
  const urlOf = (path: string) => `${root}${path}`

  /** One logical request: attempts until success, a non-retryable answer, or `maxAttempts`. */
  const request = async (
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    signal: AbortSignal | undefined
  ): Promise<{ status: number; body: unknown; attempts: number; ambiguous: number }> => {
    const init: RequestInit = {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" }
    }
    if (body !== undefined) init.body = body
    let ambiguous = 0
    for (let attempt = 1; ; attempt++) {
      const attemptSignal = signal
        ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
        : AbortSignal.timeout(timeoutMs)
      let failure: PublishError
      let retryAfterMs: number | undefined
      try {
        const response = await doFetch(urlOf(path), { ...init, signal: attemptSignal })
        const parsed = await readBody(response)
        if (response.ok) return { status: response.status, body: parsed, attempts: attempt, ambiguous }
        failure = errorOf(response.status, parsed, attempt)
        if (!failure.retryable) throw failure
        retryAfterMs = parseRetryAfter(response.headers.get("retry-after"))
      } catch (cause) {
        if (cause instanceof PublishError) throw cause
        // The caller's own abort is final; anything else (reset, refused, timeout) is a retryable network failure.
        if (signal?.aborted) throw cause
        const timedOut = cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError")
        const message =
          cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause)
        failure = new PublishError({
          status: undefined,
          code: timedOut ? "TIMEOUT" : "NETWORK_ERROR",
          message: `${method} ${path}: ${timedOut ? `no answer within ${timeoutMs} ms` : message}`,
          attempts: attempt,
          retryable: true,
          cause
        })
      }
      // 503 and 429 say "not taken"; a network error, timeout or other 5xx may hide an accepted request.
      const wasAmbiguous = failure.status === undefined || (failure.status !== 503 && failure.status !== 429)
      if (wasAmbiguous) ambiguous++
      if (attempt >= retry.maxAttempts) {
        throw new PublishError({
          status: failure.status,
          code: failure.code,
          message: `${failure.message} (gave up after ${attempt} attempts)`,
          problems: failure.problems,
          attempts: attempt,
          retryable: true,
          body: failure.body,
          cause: failure
        })
      }
      const delayMs =
        retryAfterMs !== undefined ? Math.min(retryAfterMs, maxRetryAfterMs) : backoffDelay(attempt - 1, retry, random)
      options.onRetry?.({
        method,
        path,
        attempt,
        delayMs,
        status: failure.status,
        reason: failure.message,
        ambiguous: wasAmbiguous
      })
      await sleep(delayMs, signal)
    }
  }

  const publish: Publisher["publish"] = async (events, opts) => {
    const body = JSON.stringify(events)
    const answer = await request("POST", "/publish", body, opts?.signal)
    const reply = expectBody(PublishReply, "the publish answer", answer)
    return {
      status: answer.status,
      accepted: reply.accepted,
      unique: "unique" in reply ? reply.unique : undefined,
      duplicates: "duplicates" in reply ? reply.duplicates : undefined,
      attempts: answer.attempts,
      ambiguousAttempts: answer.ambiguous
    }
  }

  const stats: Publisher["stats"] = async (opts) => {
    const answer = await request("GET", "/stats", undefined, opts?.signal)
    return expectBody(StatsBody, "the stats answer", answer)
  }

  const events: Publisher["events"] = async (query = {}, opts) => {
    const params = new URLSearchParams()
    if (query.topic !== undefined) params.set("topic", query.topic)
    if (query.after !== undefined) params.set("after", String(query.after))
    if (query.limit !== undefined) params.set("limit", String(query.limit))
    const qs = params.toString()
    const answer = await request("GET", qs ? `/events?${qs}` : "/events", undefined, opts?.signal)
    return expectBody(EventsPage, "the events page", answer)
  }

  async function* pages(query: EventsQuery = {}, opts?: { readonly signal?: AbortSignal }) {
    let after = query.after
    for (;;) {
      const page = await events({ ...query, after }, opts)
      yield page
      // next_after is always a number (the given after for an empty page): a short page means caught up
      if (page.events.length < (query.limit ?? DEFAULT_PAGE_LIMIT)) return
      after = page.next_after
    }
  }

  return { publish, stats, events, pages }
}
