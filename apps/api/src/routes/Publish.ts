/**
 * POST /publish (SPEC §4): JSON body of one event, an array, or `{"events": [...]}`; all-or-nothing validation;
 * then core's `Ingest`: 200 `{"accepted","unique","duplicates"}` after commit (direct mode), 202 `{"accepted"}`
 * once in the stream (queued mode).
 *
 * Order of checks: auth (401) and Content-Type (415) before the body is read, size (413, counted while
 * `Server` reads it), UTF-8 + JSON (400), shape and events (400, or 413 when too many), then ingest (503 +
 * Retry-After when it cannot take them). Does not deduplicate or count: core does. The hot path is a flat pipe (no generator) with the
 * services resolved once, when the route is built.
 */
import type { Ingest } from "@agg/core"
import { type Event, type Limits, makePublishBody, type PublishBodyResult } from "@agg/schema"
import { Effect } from "effect"
import { decodeJson, requireJson } from "../Body.ts"
import { EmptyBatch, fromDependency, InvalidEvents, TooManyEvents } from "../HttpErrors.ts"
import type { MetricsRegistry } from "../Metrics.ts"
import { json, type Reply, type Route } from "../Route.ts"

const summary = (n: number) => (n === 1 ? "1 problem" : `${n} problems`)

const refused = (result: Extract<PublishBodyResult, { ok: false }>) => {
  const message = result.issues.map((i) => i.message).join("; ")
  switch (result.kind) {
    case "empty":
      return new EmptyBatch({ message })
    case "too_many":
      return new TooManyEvents({ message })
    case "invalid":
      return new InvalidEvents({
        message: `the request was refused, nothing was accepted: ${summary(result.issues.length)}`,
        issues: result.issues
      })
  }
}

/** @category constructors */
export const routes = (
  limits: Limits,
  ingest: Ingest.Ingest["Service"],
  metrics: MetricsRegistry
): ReadonlyArray<Route<never>> => {
  const parse = makePublishBody(limits)
  const validate = (
    value: unknown
  ): Effect.Effect<ReadonlyArray<Event>, EmptyBatch | TooManyEvents | InvalidEvents> => {
    const result = parse(value)
    return result.ok ? Effect.succeed(result.events) : Effect.fail(refused(result))
  }
  const answer = (result: Ingest.PublishResult): Reply => {
    metrics.recordAccepted(result.accepted)
    return ingest.mode === "direct"
      ? json(200, { accepted: result.accepted, unique: result.unique ?? 0, duplicates: result.duplicates ?? 0 })
      : json(202, { accepted: result.accepted })
  }
  return [
    {
      method: "POST",
      path: "/publish",
      auth: true,
      body: { maxBytes: limits.maxBodyBytes, precheck: requireJson },
      handler: ({ body }) =>
        decodeJson(body).pipe(
          Effect.flatMap(validate),
          Effect.flatMap((events) =>
            ingest.publish(events).pipe(
              Effect.tapError((error) =>
                Effect.logWarning("publish failed", { reason: error.reason, error: error.message })
              ),
              Effect.mapError(fromDependency)
            )
          ),
          Effect.map(answer)
        )
    }
  ]
}
