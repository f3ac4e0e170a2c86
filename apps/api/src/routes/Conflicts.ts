/**
 * GET /conflicts?topic=T&after=N&limit=L: one page of rejected later versions (a key published again with other
 * content), in the order they were committed, with `next_after` for the next page; the parameters follow
 * GET /events (limit 1–1000, default 100; 400 listing each problem). The store keeps the first versions of a key
 * and counts all of them (`rejected`). Does not compare or merge versions.
 */
import { EventStore } from "@agg/core"
import { type ConflictsPage, parseEventQuery } from "@agg/schema"
import { Effect } from "effect"
import { fromDependency, InvalidQuery } from "../HttpErrors.ts"
import { json, type Route } from "../Route.ts"

/** @category constructors */
export const routes: ReadonlyArray<Route<EventStore.EventStore>> = [
  {
    method: "GET",
    path: "/conflicts",
    auth: true,
    handler: ({ query }) =>
      Effect.gen(function* () {
        const params = new URLSearchParams(query)
        // GET /events' `since` is a time cursor into events; conflicts are paged by their own positions only.
        if (params.has("since")) {
          return yield* new InvalidQuery({
            message: "invalid query parameters",
            issues: [
              { index: null, path: "since", message: 'unknown query parameter "since" (allowed: topic, after, limit)' }
            ]
          })
        }
        const parsed = parseEventQuery(params)
        if (!parsed.ok) return yield* new InvalidQuery({ message: "invalid query parameters", issues: parsed.issues })
        const { topic, after, limit } = parsed.query
        const store = yield* EventStore.EventStore
        const page = yield* store
          .conflicts(topic === undefined ? { after, limit } : { topic, after, limit })
          .pipe(Effect.mapError(fromDependency))
        return json(200, { conflicts: page.conflicts, next_after: page.nextAfter } satisfies ConflictsPage)
      })
  }
]
