/**
 * GET /consumers: the consumer group's members as the broker lists them, each with its pending count, idle time,
 * whether it holds a live heartbeat mark and the partitions it owns (the log's read-only `consumers`). In direct mode there is no log
 * and no group: an empty list. Does not remove, claim or wake any consumer.
 */
import { EventLog } from "@agg/core"
import type { ConsumersBody } from "@agg/schema"
import { Effect, Option } from "effect"
import { fromDependency } from "../HttpErrors.ts"
import { json, type Route } from "../Route.ts"

/** @category constructors */
export const routes: ReadonlyArray<Route<never>> = [
  {
    method: "GET",
    path: "/consumers",
    auth: true,
    handler: () =>
      Effect.gen(function* () {
        const log = yield* Effect.serviceOption(EventLog.EventLog)
        if (Option.isNone(log)) return json(200, { consumers: [] } satisfies ConsumersBody)
        const members = yield* log.value.consumers.pipe(Effect.mapError(fromDependency))
        return json(200, {
          consumers: [...members]
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
            .map((c) => ({
              name: c.name,
              pending: c.pending,
              idle_ms: c.idleMs,
              alive: c.alive,
              partitions: [...c.partitions]
            }))
        } satisfies ConsumersBody)
      })
  }
]
