/**
 * GET /events/stream?topic=T&after=N (or `since=<ISO time>`; without `topic`: all topics): Server-Sent Events.
 * The stored events after the cursor, then each event as it commits, each as `id: <offset | position>` and
 * `data: <the stored event as JSON>`. A reconnecting client sends `Last-Event-ID` (which wins over `after` and
 * `since`) and resumes exactly after it. A comment line every `heartbeatMs` keeps proxies and the client's idle
 * check content. A subscriber that cannot keep up (core `Tail`'s bounded buffer fills, typically because its
 * socket stopped draining) gets a final `event: error` message, `{"error": {"code": "slow_subscriber", …}}`
 * naming the cursor to resume after, and is closed; a store failure while reading its backlog ends the stream
 * the same way with `unavailable`. Parameters are checked (400) and `since` is resolved (503 when the store
 * fails) before the stream starts. Auth is the server's, as for every route.
 *
 * Deliberately not here: the fan-out (core `Tail`), wake-ups (core `CommitSignal`, storage `CommitChannel`) and
 * ending streams at shutdown (Server.ts).
 */
import { PassThrough } from "node:stream"
import { EventStore, Tail } from "@agg/core"
import { type ErrorBody, parseStreamQuery, type StoredEvent } from "@agg/schema"
import { Effect, Exit, Schedule, Scope } from "effect"
import { fromDependency, InvalidQuery } from "../HttpErrors.ts"
import type { Reply, Route } from "../Route.ts"

const HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store",
  // Proxies such as nginx would otherwise buffer the stream.
  "x-accel-buffering": "no"
}
const DIGITS = /^[0-9]{1,16}$/

// A reader hands the same event objects to every subscriber of its topic: each is rendered once.
const rendered = new WeakMap<StoredEvent, string>()
const frame = (id: number, event: StoredEvent) => {
  let text = rendered.get(event)
  if (text === undefined) {
    text = `id: ${id}\ndata: ${JSON.stringify(event)}\n\n`
    rendered.set(event, text)
  }
  return text
}
const errorFrame = (code: string, message: string) =>
  `event: error\ndata: ${JSON.stringify({ error: { code, message } } satisfies ErrorBody)}\n\n`

/** Resolves on the stream's next 'drain', or when it closes (then the pump sees it ended). */
const drained = (body: PassThrough) =>
  new Promise<void>((resolve) => {
    const done = () => {
      body.off("drain", done)
      body.off("close", done)
      resolve()
    }
    body.on("drain", done)
    body.on("close", done)
  })

/** The Last-Event-ID header as a cursor, undefined when absent, or the problem. */
const lastEventId = (value: string | Array<string> | undefined): number | undefined | InvalidQuery => {
  if (value === undefined) return undefined
  const text = Array.isArray(value) ? value[0] : value
  const n = text !== undefined && DIGITS.test(text.trim()) ? Number(text.trim()) : Number.NaN
  return Number.isSafeInteger(n)
    ? n
    : new InvalidQuery({
        message: "invalid Last-Event-ID",
        issues: [{ index: null, path: "Last-Event-ID", message: "Last-Event-ID must be an integer ≥ 0" }]
      })
}

/** @category constructors */
export const routes = (heartbeatMs: number): ReadonlyArray<Route<EventStore.EventStore | Tail.Tail>> => [
  {
    method: "GET",
    path: "/events/stream",
    auth: true,
    handler: ({ query, request }) =>
      Effect.gen(function* () {
        const parsed = parseStreamQuery(new URLSearchParams(query))
        if (!parsed.ok) return yield* new InvalidQuery({ message: "invalid query parameters", issues: parsed.issues })
        const resumed = lastEventId(request.headers["last-event-id"])
        if (resumed instanceof InvalidQuery) return yield* resumed
        const { topic, since } = parsed.query
        const store = yield* EventStore.EventStore
        const after =
          resumed ??
          (since === undefined
            ? parsed.query.after
            : yield* store
                .cursorAt(topic === undefined ? { since } : { topic, since })
                .pipe(Effect.mapError(fromDependency)))
        if (request.method === "HEAD") return { status: 200, headers: HEADERS, body: "" } satisfies Reply

        const tail = yield* Tail.Tail
        const body = new PassThrough()
        const scope = yield* Scope.make()
        const subscription = yield* tail
          .subscribe(topic === undefined ? { after } : { topic, after })
          .pipe(Scope.provide(scope))
        let sent = after
        const cursorOf = (e: StoredEvent) => (topic === undefined ? (e.position ?? 0) : e.offset)
        // False once the response is gone or ending: nothing more is written.
        const write = (text: string): boolean => !body.writableEnded && !body.destroyed && body.write(text)
        const finish = (code: string, message: string) =>
          Effect.sync(() => {
            if (!body.writableEnded) body.end(errorFrame(code, message))
          })
        const slow = (capacity: number) =>
          finish(
            "slow_subscriber",
            `more than ${capacity} events were waiting for this subscriber; reconnect with Last-Event-ID: ${sent}`
          )

        // Take, write, and wait for the socket to drain when it is full; the tail drops a subscriber whose
        // buffer fills meanwhile, and `dropped` tells the waiting pump at once.
        const pump = Effect.gen(function* () {
          write(": connected\n\n")
          for (;;) {
            const events = yield* subscription.take
            // Written and, when the buffer is full, listened for 'drain' in one synchronous step: a 'drain' between
            // the two would be missed.
            const drain = yield* Effect.sync(() => {
              let full = false
              for (const event of events) {
                sent = cursorOf(event)
                full = !write(frame(sent, event)) || full
              }
              return full && !body.writableEnded && !body.destroyed ? drained(body) : undefined
            })
            if (body.writableEnded || body.destroyed) return
            if (drain !== undefined) {
              const dropped = yield* Effect.raceFirst(
                Effect.promise(() => drain).pipe(Effect.as(undefined)),
                subscription.dropped
              )
              if (dropped !== undefined) return yield* slow(dropped.capacity)
            }
          }
        }).pipe(
          Effect.catchTags({
            TailOverflow: (e) => slow(e.capacity),
            EventStoreError: (e) => finish("unavailable", `the store failed: ${e.message}`)
          })
        )
        const heartbeat = Effect.sync(() => write(": heartbeat\n\n")).pipe(
          Effect.repeat(Schedule.spaced(heartbeatMs)),
          Effect.delay(heartbeatMs)
        )
        const fiber = yield* Effect.forkDetach(
          Effect.raceFirst(pump, heartbeat.pipe(Effect.andThen(Effect.never))).pipe(
            Effect.ensuring(Scope.close(scope, Exit.void)),
            Effect.ensuring(Effect.sync(() => body.end()))
          )
        )
        // The client went away, or the server ended the stream: stop the fiber (it unsubscribes).
        const socket = request.socket
        const gone = () => body.destroy()
        socket.once("close", gone)
        body.once("close", () => {
          socket.off("close", gone)
          fiber.interruptUnsafe()
        })
        return { status: 200, headers: HEADERS, body } satisfies Reply
      })
  }
]
