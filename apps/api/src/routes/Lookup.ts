/**
 * GET /events/{topic}/{event_id}: the stored version of one event (with its `offset` and `received_at`), or 404
 * `event_not_found`. Both are URL-encoded path segments, decoded by the router, so any valid topic or id (slashes,
 * `%`, spaces, non-ASCII) round-trips; a segment that is no valid topic or id is a 400 naming it. Does not show
 * rejected later versions: GET /conflicts does.
 */
import { EventStore } from "@agg/core"
import { EventId, type Problem, type StoredEvent, Topic, toProblems } from "@agg/schema"
import { Effect, Option } from "effect"
import * as v from "valibot"
import { EventNotFound, fromDependency, InvalidQuery } from "../HttpErrors.ts"
import { json, type Route } from "../Route.ts"

const PathParams = v.object({ topic: Topic, event_id: EventId })

/** @category constructors */
export const routes: ReadonlyArray<Route<EventStore.EventStore>> = [
  {
    method: "GET",
    path: "/events/:topic/:event_id",
    auth: true,
    handler: ({ params }) =>
      Effect.gen(function* () {
        const parsed = v.safeParse(PathParams, { topic: params["topic"], event_id: params["event_id"] })
        if (!parsed.success) {
          const issues: Array<Problem> = toProblems(parsed.issues)
          return yield* new InvalidQuery({ message: "invalid path parameters", issues })
        }
        const store = yield* EventStore.EventStore
        const found = yield* store.lookup(parsed.output).pipe(Effect.mapError(fromDependency))
        if (Option.isNone(found)) {
          const { topic, event_id } = parsed.output
          return yield* new EventNotFound({
            message: `no event ${JSON.stringify(event_id)} in topic ${JSON.stringify(topic)}`
          })
        }
        return json(200, found.value satisfies StoredEvent)
      })
  }
]
