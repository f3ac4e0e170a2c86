/**
 * GET /events?topic=T&after=N&limit=L: one page of stored events, with `next_after` for the next page
 * (the cursor to pass back, always). Without `topic`: all topics in storage order. `since=<ISO time>` instead of
 * `after` starts at the first event received at or after that time (the store's `cursorAt`). Bad parameters: 400
 * listing each problem. Does not cache or reorder: the store defines the order.
 */
import { EventStore } from "@agg/core"
import { type EventsPage, parseEventQuery } from "@agg/schema"
import { Effect } from "effect"
import { fromDependency, InvalidQuery } from "../HttpErrors.ts"
import { json, type Route } from "../Route.ts"

/** @category constructors */
export const routes: ReadonlyArray<Route<EventStore.EventStore>> = [
  {
    method: "GET",
    path: "/events",
    auth: true,
    handler: ({ query }) =>
      Effect.gen(function* () {
        const parsed = parseEventQuery(new URLSearchParams(query))
        if (!parsed.ok) {
          return yield* new InvalidQuery({ message: "invalid query parameters", issues: parsed.issues })
        }
        const store = yield* EventStore.EventStore
        const { since, limit, ...where } = parsed.query
        const after =
          since === undefined
            ? where.after
            : yield* store
                .cursorAt(where.topic === undefined ? { since } : { topic: where.topic, since })
                .pipe(Effect.mapError(fromDependency))
        const page = yield* store.read({ ...where, after, limit }).pipe(Effect.mapError(fromDependency))
        return json(200, { events: page.events, next_after: page.nextAfter } satisfies EventsPage)
      })
  }
]
