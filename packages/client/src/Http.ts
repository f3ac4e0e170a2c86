/**
 * The request machinery of the client: one logical request as attempts with safe retries, the error type, and
 * the checks of answers against `@agg/schema`'s response schemas.
 *
 * Retried: network errors, per-attempt timeouts, 5xx and 429. `Retry-After` (seconds or HTTP date) is honoured as
 * the delay; otherwise capped exponential backoff with full jitter: `random() * min(maxDelayMs, baseDelayMs * 2^n)`.
 * A retry resends the exact same body. Not retried: any other 4xx (400/401/413/415 …), which fails with a
 * {@link ClientError} carrying the body's problems. An answer that does not match its schema fails with a
 * `BAD_RESPONSE` error naming every mismatch.
 *
 * Deliberately not here: what is asked (Client.ts) and the live stream (Subscribe.ts). Plain `fetch`, no Node
 * modules, so it runs in browsers too.
 */
import { checkResponse, ErrorBody, type Problem, summarizeProblems } from "@agg/schema"
import type * as v from "valibot"

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

/**
 * A request that failed for good: a non-retryable answer (4xx other than 429), or retries exhausted.
 * `code` is the body's stable `error.code` when it has one, else `HTTP_<status>`, `NETWORK_ERROR`, `TIMEOUT` or
 * `BAD_RESPONSE` (an answer that does not match the API's schema).
 * @category errors
 */
export class ClientError extends Error {
  override readonly name = "ClientError"
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

/** The defaults: 8 attempts, 100 ms base, 5,000 ms cap. @category constructors */
export const defaultRetry: RetryOptions = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 5_000 }

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

/** Whether a status may succeed later: 429 and 5xx. */
export const isRetryableStatus = (status: number): boolean => status === 429 || status >= 500

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export const sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
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

/** The body as JSON, as text when it is not JSON, or undefined when empty. */
export const readBody = async (response: Response): Promise<unknown> => {
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

/** The error of a failed answer, from its status and body. */
export const errorOf = (status: number, body: unknown, attempts: number): ClientError => {
  const fields = errorFieldsOf(body)
  const code = fields.code ?? `HTTP_${status}`
  const text = fields.message ?? ""
  const problems = fields.issues ?? []
  const listed = problems.map((p) => (p.index === null ? p.message : `[${p.index}] ${p.message}`)).join("; ")
  const detail = listed ? `: ${listed}` : text ? `: ${text}` : ""
  return new ClientError({
    status,
    code,
    message: `HTTP ${status} ${code}${detail}`,
    problems,
    attempts,
    retryable: isRetryableStatus(status),
    body
  })
}

/** The checked body of a successful answer, or a non-retryable `BAD_RESPONSE` naming every mismatch. */
export const expectBody = <S extends v.GenericSchema>(
  schema: S,
  what: string,
  answer: { readonly status: number; readonly body: unknown; readonly attempts: number }
): v.InferOutput<S> => {
  const checked = checkResponse(schema, answer.body)
  if (checked.ok) return checked.value
  throw new ClientError({
    status: answer.status,
    code: "BAD_RESPONSE",
    message: `${what} does not match the API's schema: ${summarizeProblems(checked.problems).replaceAll("\n", "; ")}`,
    problems: checked.problems,
    attempts: answer.attempts,
    retryable: false,
    body: answer.body
  })
}

/** The message of a network failure (undici hides the reason in `cause`). */
export const networkMessage = (cause: unknown): string =>
  cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause)

/** What `makeRequester` needs. */
export interface RequesterOptions {
  /** Base URL without a trailing slash; paths are appended as they are (a path prefix is kept). */
  readonly root: string
  readonly headers: Readonly<Record<string, string>>
  readonly retry: RetryOptions
  readonly timeoutMs: number
  readonly fetch: typeof globalThis.fetch
  readonly random: () => number
  readonly maxRetryAfterMs: number
  readonly onRetry: ((info: RetryInfo) => void) | undefined
}

/** The answer of one logical request: the last attempt's status and parsed body. */
export interface Answer {
  readonly status: number
  readonly body: unknown
  readonly attempts: number
  /** Failed attempts that the server may nevertheless have acted on. */
  readonly ambiguous: number
}

/** One logical request: attempts until success, a non-retryable answer, or `maxAttempts`. */
export const makeRequester =
  (o: RequesterOptions) =>
  async (
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    signal: AbortSignal | undefined
  ): Promise<Answer> => {
    const init: RequestInit = {
      method,
      headers: body === undefined ? o.headers : { ...o.headers, "content-type": "application/json" }
    }
    if (body !== undefined) init.body = body
    let ambiguous = 0
    for (let attempt = 1; ; attempt++) {
      const attemptSignal = signal
        ? AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)])
        : AbortSignal.timeout(o.timeoutMs)
      let failure: ClientError
      let retryAfterMs: number | undefined
      try {
        const response = await o.fetch(`${o.root}${path}`, { ...init, signal: attemptSignal })
        const parsed = await readBody(response)
        if (response.ok) return { status: response.status, body: parsed, attempts: attempt, ambiguous }
        failure = errorOf(response.status, parsed, attempt)
        if (!failure.retryable) throw failure
        retryAfterMs = parseRetryAfter(response.headers.get("retry-after"))
      } catch (cause) {
        if (cause instanceof ClientError) throw cause
        // The caller's own abort is final; anything else (reset, refused, timeout) is a retryable network failure.
        if (signal?.aborted) throw cause
        const timedOut = cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError")
        failure = new ClientError({
          status: undefined,
          code: timedOut ? "TIMEOUT" : "NETWORK_ERROR",
          message: `${method} ${path}: ${timedOut ? `no answer within ${o.timeoutMs} ms` : networkMessage(cause)}`,
          attempts: attempt,
          retryable: true,
          cause
        })
      }
      // 503 and 429 say "not taken"; a network error, timeout or other 5xx may hide an accepted request.
      const wasAmbiguous = failure.status === undefined || (failure.status !== 503 && failure.status !== 429)
      if (wasAmbiguous) ambiguous++
      if (attempt >= o.retry.maxAttempts) {
        throw new ClientError({
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
        retryAfterMs !== undefined
          ? Math.min(retryAfterMs, o.maxRetryAfterMs)
          : backoffDelay(attempt - 1, o.retry, o.random)
      o.onRetry?.({
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
