/**
 * GET /topics?after=&limit=: the topics by name, one page at a time, each with its counters; `next_after` is the
 * `after` of the next page (the last returned name, or the given `after` when the page is empty), so a reader
 * pages through any number of topics at the cost of one page each. Bad parameters: 400 listing each problem.
 */
import { EventStore } from "@agg/core"
import { parseTopicQuery, type TopicsPage } from "@agg/schema"
import { Effect } from "effect"
import { fromDependency, InvalidQuery } from "../HttpErrors.ts"
import { json, type Route } from "../Route.ts"

/** @category constructors */
export const routes: ReadonlyArray<Route<EventStore.EventStore>> = [
  {
    method: "GET",
    path: "/topics",
    auth: true,
    handler: ({ query }) =>
      Effect.gen(function* () {
        const parsed = parseTopicQuery(new URLSearchParams(query))
        if (!parsed.ok) {
          return yield* new InvalidQuery({ message: "invalid query parameters", issues: parsed.issues })
        }
        const store = yield* EventStore.EventStore
        const page = yield* store.topics(parsed.query).pipe(Effect.mapError(fromDependency))
        return json(200, {
          topics: page.topics.map((t) => ({
            topic: t.topic,
            unique_processed: t.unique,
            duplicate_dropped: t.duplicates,
            conflicts: t.conflicts
          })),
          next_after: page.nextAfter
        } satisfies TopicsPage)
      })
  }
]
