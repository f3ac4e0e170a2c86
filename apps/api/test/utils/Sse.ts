/**
 * A raw Server-Sent Events reader for tests (node:http, so a test can pause the socket to play a slow subscriber,
 * and sees every comment and the connection's end). Messages are parsed by `eventsource-parser`.
 */
import * as Http from "node:http"
import { createParser, type EventSourceMessage } from "eventsource-parser"

export interface SseStream {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  /** Every message so far (events and `event: error`), in order. */
  readonly messages: Array<EventSourceMessage>
  /** Every comment so far (`connected`, `heartbeat`). */
  readonly comments: Array<string>
  /** Resolves once the server ended the response (or the connection closed). */
  readonly ended: Promise<void>
  /** Waits until `predicate` holds over what arrived (re-checked on every chunk), or fails after `timeoutMs`. */
  readonly until: (predicate: (s: SseStream) => boolean, timeoutMs?: number) => Promise<void>
  /** Stop reading the socket (its buffers fill; the server's writes back up) and start again. */
  readonly pause: () => void
  readonly resume: () => void
  readonly close: () => void
  /** The body of a non-200 answer. */
  readonly text: () => string
}

/** How many messages are events (cheap enough for `until` predicates: nothing is parsed). */
export const countOf = (s: SseStream): number => s.messages.filter((m) => m.event === undefined).length

/** The `data` of each message that is an event (not `event: error`), parsed. */
// biome-ignore lint/suspicious/noExplicitAny: tests read fields of served events one by one and assert on each
export const eventsOf = (s: SseStream): Array<any> =>
  s.messages.filter((m) => m.event === undefined).map((m) => JSON.parse(m.data))

/** Open GET `path` as an event stream; resolves once the answer's headers arrived. */
export const openSse = (base: string, path: string, headers: Record<string, string> = {}): Promise<SseStream> =>
  new Promise((resolve, reject) => {
    const url = new URL(path, base)
    const req = Http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, headers, agent: false },
      (res) => {
        const messages: Array<EventSourceMessage> = []
        const comments: Array<string> = []
        let raw = ""
        const waiters = new Set<() => void>()
        const parser = createParser({
          onEvent: (m) => messages.push(m),
          onComment: (c) => comments.push(c.trim())
        })
        let resolveEnded: () => void = () => undefined
        const ended = new Promise<void>((r) => {
          resolveEnded = r
        })
        const notify = () => {
          for (const w of waiters) w()
        }
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => {
          raw += chunk
          parser.feed(chunk)
          notify()
        })
        const end = () => {
          resolveEnded()
          notify()
        }
        res.on("end", end)
        res.on("close", end)
        res.on("error", end)
        let done = false
        ended.then(() => {
          done = true
        })
        const stream: SseStream = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          messages,
          comments,
          ended,
          until: (predicate, timeoutMs = 20_000) =>
            new Promise<void>((ok, fail) => {
              const check = () => {
                if (predicate(stream)) {
                  waiters.delete(check)
                  clearTimeout(timer)
                  ok()
                } else if (done) {
                  waiters.delete(check)
                  clearTimeout(timer)
                  fail(new Error(`stream ended before the condition held (${messages.length} messages)`))
                }
              }
              const timer = setTimeout(() => {
                waiters.delete(check)
                fail(new Error(`condition not met within ${timeoutMs} ms (${messages.length} messages)`))
              }, timeoutMs)
              waiters.add(check)
              check()
            }),
          pause: () => res.pause(),
          resume: () => res.resume(),
          close: () => req.destroy(),
          text: () => raw
        }
        resolve(stream)
      }
    )
    req.on("error", reject)
    req.end()
  })
