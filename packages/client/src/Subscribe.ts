/**
 * The live tail of GET /events/stream as an async iterator: the stored events after a cursor, then each new one
 * as it commits, for ever. It reconnects by itself (a dropped connection, an api restart, a 5xx, the server's
 * `event: error` for a subscriber that fell behind, or no byte, not even a heartbeat, within `idleTimeoutMs`),
 * resuming with `Last-Event-ID` set to the last event it yielded, so every event is yielded exactly once and in
 * order: offsets `1..n` of a topic, or strictly rising positions over all topics.
 *
 * Read with `fetch` and a stream reader rather than `EventSource`, which cannot send the `Authorization` header;
 * the text is parsed by `eventsource-parser`. Each event is checked against `@agg/schema`'s `StoredEvent`.
 * Deliberately not here: buffering beyond one network chunk (the iterator pulls; a consumer that stops pulling
 * stops reading, and the server eventually closes it as too slow, after which it resumes) and any retry of a
 * 4xx, which ends the iteration with a `ClientError` (a bad query or key does not fix itself).
 */
import { checkResponse, ErrorBody, StoredEvent } from "@agg/schema"
import { createParser, type EventSourceMessage } from "eventsource-parser"
import {
  backoffDelay,
  ClientError,
  errorOf,
  networkMessage,
  parseRetryAfter,
  type RetryOptions,
  readBody,
  sleep
} from "./Http.ts"

/** A topic's name, or every topic. @category models */
export type SubscribeTarget = string | { readonly all: true }

/** Where a subscription starts (at most one of `after` and `since`; neither: from the start). @category models */
export interface SubscribeOptions {
  /** Start after this offset (topic) or position (all topics). */
  readonly after?: number | undefined
  /** Start at the first event received at or after this ISO time. */
  readonly since?: string | undefined
  /** Ends the iteration (the iterator returns; the connection is closed). */
  readonly signal?: AbortSignal | undefined
}

/** Passed to `onReconnect` before each wait. @category models */
export interface ReconnectInfo {
  /** Why the connection ended, e.g. `SLOW_SUBSCRIBER: …`, `NETWORK_ERROR: …`, `HTTP 503 …`, `stream ended`. */
  readonly reason: string
  readonly delayMs: number
  /** The cursor the next connection resumes after (undefined: none yet, the start or `since` again). */
  readonly after: number | undefined
}

/** What `makeSubscribe` needs from the client. */
export interface SubscribeContext {
  readonly root: string
  readonly headers: Readonly<Record<string, string>>
  readonly fetch: typeof globalThis.fetch
  readonly random: () => number
  readonly reconnect: RetryOptions
  readonly idleTimeoutMs: number
  readonly onReconnect: ((info: ReconnectInfo) => void) | undefined
}

/** Why one connection ended, when it may be resumed. */
class Interrupted extends Error {}

// A server-requested wait is honoured up to this long.
const MAX_RETRY_AFTER_MS = 60_000

/** @category constructors */
export const makeSubscribe = (ctx: SubscribeContext) =>
  async function* subscribe(
    target: SubscribeTarget,
    options: SubscribeOptions = {}
  ): AsyncGenerator<StoredEvent, void, undefined> {
    if (options.after !== undefined && options.since !== undefined) {
      throw new TypeError("subscribe: give after or since, not both")
    }
    const topic = typeof target === "string" ? target : undefined
    const outer = options.signal
    let cursor = options.after
    let failures = 0
    for (;;) {
      if (outer?.aborted) return
      const params = new URLSearchParams()
      if (topic !== undefined) params.set("topic", topic)
      // The cursor travels as Last-Event-ID; `since` only until the first event gave one.
      if (cursor === undefined && options.since !== undefined) params.set("since", options.since)
      const qs = params.toString()
      const connection = new AbortController()
      const stop = () => connection.abort(outer?.reason)
      outer?.addEventListener("abort", stop, { once: true })
      let reason: string
      let retryAfterMs: number | undefined
      try {
        const headers: Record<string, string> = { ...ctx.headers, accept: "text/event-stream" }
        if (cursor !== undefined) headers["last-event-id"] = String(cursor)
        const response = await ctx.fetch(`${ctx.root}/events/stream${qs ? `?${qs}` : ""}`, {
          headers,
          signal: connection.signal
        })
        if (!response.ok || response.body === null) {
          const error = errorOf(response.status, await readBody(response), 1)
          if (!error.retryable) throw error
          const requested = parseRetryAfter(response.headers.get("retry-after"))
          retryAfterMs = requested === undefined ? undefined : Math.min(requested, MAX_RETRY_AFTER_MS)
          reason = error.message
        } else {
          reason = "stream ended"
          for await (const message of messages(response.body, connection, ctx.idleTimeoutMs)) {
            if (message.event === "error") {
              const body = checkResponse(ErrorBody, safeJson(message.data))
              reason = body.ok ? `${body.value.error.code}: ${body.value.error.message}` : `error: ${message.data}`
              break
            }
            const checked = checkResponse(StoredEvent, safeJson(message.data))
            const id = Number(message.id)
            if (!checked.ok || !Number.isSafeInteger(id)) {
              throw new ClientError({
                status: response.status,
                code: "BAD_RESPONSE",
                message: `a streamed event does not match the API's schema (id ${JSON.stringify(message.id)})`,
                problems: checked.ok ? [] : checked.problems,
                attempts: 1,
                retryable: false,
                body: message.data
              })
            }
            // Defensive: the server resumes strictly after the cursor, so nothing at or below it comes back.
            if (cursor !== undefined && id <= cursor) continue
            cursor = id
            failures = 0
            yield checked.value
          }
        }
      } catch (cause) {
        if (outer?.aborted) return
        if (cause instanceof ClientError) throw cause
        reason = cause instanceof Interrupted ? cause.message : `NETWORK_ERROR: ${networkMessage(cause)}`
      } finally {
        outer?.removeEventListener("abort", stop)
        connection.abort()
      }
      const delayMs = retryAfterMs ?? backoffDelay(failures, ctx.reconnect, ctx.random)
      failures++
      ctx.onReconnect?.({ reason, delayMs, after: cursor })
      try {
        await sleep(delayMs, outer)
      } catch {
        return
      }
    }
  }

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * The messages of one SSE response, in order. Aborts the connection (and ends with `Interrupted`) when no byte
 * arrived for `idleTimeoutMs`: the server sends heartbeats, so silence means a dead connection.
 */
async function* messages(
  body: ReadableStream<Uint8Array>,
  connection: AbortController,
  idleTimeoutMs: number
): AsyncGenerator<EventSourceMessage> {
  const inbox: Array<EventSourceMessage> = []
  const parser = createParser({ onEvent: (m) => inbox.push(m) })
  const decoder = new TextDecoder()
  const reader = body.getReader()
  let idle = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const arm = () => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      idle = true
      connection.abort()
    }, idleTimeoutMs)
  }
  try {
    arm()
    for (;;) {
      const chunk = await reader.read().catch((cause: unknown) => {
        throw idle ? new Interrupted(`IDLE: no data or heartbeat for ${idleTimeoutMs} ms`) : cause
      })
      if (chunk.done) return
      arm()
      parser.feed(decoder.decode(chunk.value, { stream: true }))
      // The parser calls back synchronously: what one chunk completed is yielded before the next read.
      yield* inbox.splice(0)
    }
  } finally {
    clearTimeout(timer)
    reader.releaseLock()
  }
}
