/**
 * `createClient`: the HTTP client of the aggregator. Publish with safe retries (batches split to `batchSize`,
 * each resent as the same body: events keep their `(topic, event_id)`, so the server's dedup makes a retry safe),
 * read pages, subscribe to the live stream (Subscribe.ts), stats and health, rejected versions (`conflicts`) and the
 * dead letters (`deadLetters.list/redrive/discard`; the last two need an admin key). Every answer is checked against
 * `@agg/schema`'s response schemas.
 *
 * Plain TypeScript over the global `fetch` and web streams: Node 22+ and browsers, no Effect knowledge needed.
 * Deliberately not here: client-side validation of events (the server is the authority) and connection pooling
 * knobs (the platform's defaults).
 */
import {
  ConflictsPage,
  DEFAULT_PAGE_LIMIT,
  DeadLettersPage,
  DiscardReply,
  type EventInput,
  EventsPage,
  HealthBody,
  PublishReply,
  RedriveReply,
  StatsBody,
  type StoredEvent
} from "@agg/schema"
import {
  ClientError,
  defaultRetry,
  errorOf,
  expectBody,
  makeRequester,
  networkMessage,
  type RetryInfo,
  type RetryOptions,
  readBody
} from "./Http.ts"
import { makeSubscribe, type ReconnectInfo, type SubscribeOptions, type SubscribeTarget } from "./Subscribe.ts"

/** Options of {@link createClient}. @category models */
export interface ClientOptions {
  /** Base URL of the API, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  readonly url: string
  /** Sent as `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string | undefined
  /** Defaults: 8 attempts, 100 ms base, 5,000 ms cap. */
  readonly retry?: Partial<RetryOptions> | undefined
  /** Per-attempt timeout in ms (default 30,000); a timed-out attempt is retried like a network error. */
  readonly timeoutMs?: number | undefined
  /** Most events per POST /publish (default 1,000); a larger `publish` is sent as several requests, in order. */
  readonly batchSize?: number | undefined
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** Called before each retry wait, for counting and logging. */
  readonly onRetry?: ((info: RetryInfo) => void) | undefined
  /** Uniform [0, 1) source for the jitter (default `Math.random`); tests may pin it. */
  readonly random?: (() => number) | undefined
  /** Upper bound on a server-requested `Retry-After` wait in ms (default 60,000). */
  readonly maxRetryAfterMs?: number | undefined
  /** Backoff between reconnections of `subscribe` (full jitter; default 250 ms base, 5,000 ms cap). */
  readonly reconnect?: Partial<Omit<RetryOptions, "maxAttempts">> | undefined
  /** `subscribe` reconnects when nothing, not even a heartbeat, arrived for this long (default 45,000 ms). */
  readonly idleTimeoutMs?: number | undefined
  /** Called before each reconnection wait of `subscribe`. */
  readonly onReconnect?: ((info: ReconnectInfo) => void) | undefined
}

/** The answer to a successful publish (summed over its requests when it was split). @category models */
export interface PublishResult {
  /** HTTP status of the last request (200 or 202). */
  readonly status: number
  /** Events the server accepted (`accepted` of the bodies). */
  readonly accepted: number
  /** Embedded mode only: events new to the store, and duplicates dropped. */
  readonly unique: number | undefined
  readonly duplicates: number | undefined
  /** Attempts used, from 1 per request; `attempts - requests` retries. */
  readonly attempts: number
  /** Failed attempts that the server may nevertheless have acted on (see {@link RetryInfo.ambiguous}). */
  readonly ambiguousAttempts: number
}

/** Query of GET /events; without `topic`, all topics in storage order. @category models */
export interface EventsQuery {
  readonly topic?: string | undefined
  /** Start after this offset (topic) or position (all topics); not with `since`. */
  readonly after?: number | undefined
  /** Start at the first event received at or after this ISO time; not with `after`. */
  readonly since?: string | undefined
  readonly limit?: number | undefined
}

/** Query of GET /conflicts: like {@link EventsQuery} without `since`. @category models */
export interface ConflictsQuery {
  readonly topic?: string | undefined
  /** Start after this position (the previous page's `next_after`). */
  readonly after?: number | undefined
  readonly limit?: number | undefined
}

/** Query of GET /dead-letters. @category models */
export interface DeadLettersQuery {
  /** Start after this dead-letter id (the previous page's `next_after`); default: the oldest. */
  readonly after?: string | undefined
  readonly limit?: number | undefined
}

/** Per-call options. @category models */
export interface CallOptions {
  readonly signal?: AbortSignal | undefined
}

/** The client returned by {@link createClient}. @category models */
export interface Client {
  /** POST /publish one event or many (split into requests of at most `batchSize`, sent in order). */
  readonly publish: (
    events: EventInput | ReadonlyArray<EventInput>,
    options?: CallOptions & { readonly batchSize?: number | undefined }
  ) => Promise<PublishResult>
  /** GET /events: one page; `next_after` is always the cursor to pass back. */
  readonly read: (query?: EventsQuery, options?: CallOptions) => Promise<EventsPage>
  /**
   * Every page of a topic (or of all topics) from `after` (or `since`), following `next_after`, until a page
   * holds fewer events than the limit asked (or the server's default): the reader has caught up.
   */
  readonly pages: (query?: EventsQuery, options?: CallOptions) => AsyncGenerator<EventsPage, void, undefined>
  /**
   * GET /events/stream: every event after the cursor, then each new one as it commits, for ever (until
   * `options.signal` aborts or the loop breaks); reconnects and resumes by itself, each event exactly once.
   *
   * ```ts
   * for await (const event of client.subscribe("orders", { after: 0 })) console.log(event.offset, event.payload)
   * for await (const event of client.subscribe({ all: true })) console.log(event.position, event.topic)
   * ```
   */
  readonly subscribe: (
    target: SubscribeTarget,
    options?: SubscribeOptions
  ) => AsyncGenerator<StoredEvent, void, undefined>
  /** GET /conflicts: one page of rejected later versions of keys. */
  readonly conflicts: (query?: ConflictsQuery, options?: CallOptions) => Promise<ConflictsPage>
  /**
   * The dead letters. `redrive` appends them back to the stream, `discard` removes them for good (counted in
   * `discarded`); both take ids or `"all"`, need a client made with an admin key, and are safe to retry (an id
   * already moved comes back in `missing`). Embedded mode has none: `list` is empty, the others throw 404.
   */
  readonly deadLetters: {
    readonly list: (query?: DeadLettersQuery, options?: CallOptions) => Promise<DeadLettersPage>
    readonly redrive: (ids: ReadonlyArray<string> | "all", options?: CallOptions) => Promise<RedriveReply>
    readonly discard: (ids: ReadonlyArray<string> | "all", options?: CallOptions) => Promise<DiscardReply>
  }
  /** GET /stats (retried like publish: it is idempotent). */
  readonly stats: (options?: CallOptions) => Promise<StatsBody>
  /** GET /health, one attempt: the body of a 200 (`ok`) or a 503 (`unavailable`); other answers throw. */
  readonly health: (options?: CallOptions) => Promise<HealthBody>
}

const validateOptions = (url: string, retry: RetryOptions, timeoutMs: number, batchSize: number): URL => {
  if (!URL.canParse(url)) throw new TypeError(`createClient: url is not a valid URL: ${JSON.stringify(url)}`)
  const parsed = new URL(url)
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new TypeError(`createClient: url must be http(s), got ${parsed.protocol}`)
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1)
    throw new TypeError(`createClient: retry.maxAttempts must be an integer >= 1, got ${retry.maxAttempts}`)
  if (!(retry.baseDelayMs >= 0) || !(retry.maxDelayMs >= retry.baseDelayMs))
    throw new TypeError("createClient: retry delays must satisfy 0 <= baseDelayMs <= maxDelayMs")
  if (!(timeoutMs > 0)) throw new TypeError(`createClient: timeoutMs must be > 0, got ${timeoutMs}`)
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new TypeError(`createClient: batchSize must be an integer >= 1, got ${batchSize}`)
  return parsed
}

const queryString = (query: EventsQuery): string => {
  const params = new URLSearchParams()
  if (query.topic !== undefined) params.set("topic", query.topic)
  if (query.after !== undefined) params.set("after", String(query.after))
  if (query.since !== undefined) params.set("since", query.since)
  if (query.limit !== undefined) params.set("limit", String(query.limit))
  const qs = params.toString()
  return qs ? `?${qs}` : ""
}

/**
 * Creates the client. Options are validated here (a bad URL or retry setting throws a `TypeError` naming it).
 *
 * ```ts
 * import { ClientError, createClient } from "@agg/client"
 *
 * const client = createClient({ url: "http://127.0.0.1:8080", apiKey: process.env.API_KEY })
 * try {
 *   const result = await client.publish({ topic: "orders", event_id: "e-1", timestamp: new Date().toISOString(),
 *     source: "checkout", payload: { amount: 5 } })
 *   console.log(result.accepted, result.attempts)
 * } catch (e) {
 *   if (e instanceof ClientError) console.error(e.status, e.code, e.problems)
 * }
 * for await (const event of client.subscribe("orders")) console.log(event.offset, event.payload)
 * ```
 * @category constructors
 */
export const createClient = (options: ClientOptions): Client => {
  const retry: RetryOptions = { ...defaultRetry, ...options.retry }
  const timeoutMs = options.timeoutMs ?? 30_000
  const batchSize = options.batchSize ?? 1_000
  const base = validateOptions(options.url, retry, timeoutMs, batchSize)
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const random = options.random ?? Math.random
  const headers: Record<string, string> = { accept: "application/json" }
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`
  // Plain concatenation keeps a path prefix of the base URL (`http://host/agg` → `http://host/agg/publish`).
  const root = `${base.origin}${base.pathname.replace(/\/+$/, "")}`
  const request = makeRequester({
    root,
    headers,
    retry,
    timeoutMs,
    fetch: doFetch,
    random,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    onRetry: options.onRetry
  })

  const publish: Client["publish"] = async (events, opts) => {
    const size = opts?.batchSize ?? batchSize
    // One event is sent as it is; an array as arrays of at most `size`.
    const bodies = Array.isArray(events)
      ? Array.from({ length: Math.max(1, Math.ceil(events.length / size)) }, (_, i) =>
          events.slice(i * size, (i + 1) * size)
        )
      : [events]
    let result: PublishResult = {
      status: 0,
      accepted: 0,
      unique: 0,
      duplicates: 0,
      attempts: 0,
      ambiguousAttempts: 0
    }
    for (const body of bodies) {
      const answer = await request("POST", "/publish", JSON.stringify(body), opts?.signal)
      const reply = expectBody(PublishReply, "the publish answer", answer)
      const unique = "unique" in reply ? reply.unique : undefined
      const duplicates = "duplicates" in reply ? reply.duplicates : undefined
      result = {
        status: answer.status,
        accepted: result.accepted + reply.accepted,
        unique: unique === undefined || result.unique === undefined ? undefined : result.unique + unique,
        duplicates:
          duplicates === undefined || result.duplicates === undefined ? undefined : result.duplicates + duplicates,
        attempts: result.attempts + answer.attempts,
        ambiguousAttempts: result.ambiguousAttempts + answer.ambiguous
      }
    }
    return result
  }

  const read: Client["read"] = async (query = {}, opts) => {
    const answer = await request("GET", `/events${queryString(query)}`, undefined, opts?.signal)
    return expectBody(EventsPage, "the events page", answer)
  }

  async function* pages(query: EventsQuery = {}, opts?: CallOptions) {
    let current = query
    for (;;) {
      const page = await read(current, opts)
      yield page
      // next_after is always a number (the given after for an empty page): a short page means caught up
      if (page.events.length < (query.limit ?? DEFAULT_PAGE_LIMIT)) return
      const { since: _since, ...rest } = current
      current = { ...rest, after: page.next_after }
    }
  }

  const conflicts: Client["conflicts"] = async (query = {}, opts) => {
    const answer = await request("GET", `/conflicts${queryString(query)}`, undefined, opts?.signal)
    return expectBody(ConflictsPage, "the conflicts page", answer)
  }

  const selection = (ids: ReadonlyArray<string> | "all") => JSON.stringify(ids === "all" ? { all: true } : { ids })
  const deadLetters: Client["deadLetters"] = {
    list: async (query = {}, opts) => {
      const params = new URLSearchParams()
      if (query.after !== undefined) params.set("after", query.after)
      if (query.limit !== undefined) params.set("limit", String(query.limit))
      const qs = params.toString()
      const answer = await request("GET", `/dead-letters${qs ? `?${qs}` : ""}`, undefined, opts?.signal)
      return expectBody(DeadLettersPage, "the dead letters page", answer)
    },
    redrive: async (ids, opts) => {
      const answer = await request("POST", "/dead-letters/redrive", selection(ids), opts?.signal)
      return expectBody(RedriveReply, "the redrive answer", answer)
    },
    discard: async (ids, opts) => {
      const answer = await request("POST", "/dead-letters/discard", selection(ids), opts?.signal)
      return expectBody(DiscardReply, "the discard answer", answer)
    }
  }

  const stats: Client["stats"] = async (opts) => {
    const answer = await request("GET", "/stats", undefined, opts?.signal)
    return expectBody(StatsBody, "the stats answer", answer)
  }

  const health: Client["health"] = async (opts) => {
    let response: Response
    try {
      response = await doFetch(`${root}/health`, {
        headers,
        signal: opts?.signal
          ? AbortSignal.any([opts.signal, AbortSignal.timeout(timeoutMs)])
          : AbortSignal.timeout(timeoutMs)
      })
    } catch (cause) {
      if (opts?.signal?.aborted) throw cause
      throw new ClientError({
        status: undefined,
        code: "NETWORK_ERROR",
        message: `GET /health: ${networkMessage(cause)}`,
        attempts: 1,
        retryable: true,
        cause
      })
    }
    const body = await readBody(response)
    if (response.status !== 200 && response.status !== 503) throw errorOf(response.status, body, 1)
    return expectBody(HealthBody, "the health answer", { status: response.status, body, attempts: 1 })
  }

  const subscribe = makeSubscribe({
    root,
    headers,
    fetch: doFetch,
    random,
    reconnect: { maxAttempts: 1, baseDelayMs: 250, maxDelayMs: 5_000, ...options.reconnect },
    idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
    onReconnect: options.onReconnect
  })

  return { publish, read, pages, subscribe, conflicts, deadLetters, stats, health }
}
