/**
 * POST /publish: JSON body of one event, an array, or `{"events": [...]}`; all-or-nothing validation;
 * then core's `Ingest`: 200 `{"accepted","unique","duplicates"}` after commit (direct mode), 202 `{"accepted"}`
 * once in the stream (queued mode).
 *
 * Order of checks: auth (401) and Content-Type (415) before the body is read, size (413, counted while
 * `Server` reads it), UTF-8 + JSON (400), shape and events (400, or 413 when too many), then ingest (503 +
 * Retry-After when it cannot take them). Does not deduplicate or count: core does. The hot path is plain code up to
 * the one Effect that calls ingest, with the services resolved once, when the route is built.
 */
import type { Ingest } from "@agg/core"
import {
  type Event,
  type Limits,
  makePublishBody,
  type PublishBodyResult,
  type PublishCommitted,
  type PublishQueued
} from "@agg/schema"
import { Effect } from "effect"
import { parseJson, requireJson } from "../Body.ts"
import {
  EmptyBatch,
  fromDependency,
  type HttpError,
  InvalidEvents,
  MalformedBody,
  TooManyEvents
} from "../HttpErrors.ts"
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
        message:
          `the request was refused, nothing was accepted: ${summary(result.issueCount ?? result.issues.length)}` +
          (result.issueCount === undefined ? "" : ` (the first ${result.issues.length} listed)`),
        issues: result.issues,
        issueCount: result.issueCount ?? result.issues.length
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
  const answer = (result: Ingest.PublishResult): Reply => {
    metrics.recordAccepted(result.accepted)
    return ingest.mode === "direct"
      ? json(200, {
          accepted: result.accepted,
          unique: result.unique ?? 0,
          duplicates: result.duplicates ?? 0
        } satisfies PublishCommitted)
      : json(202, { accepted: result.accepted } satisfies PublishQueued)
  }
  const publish = (events: ReadonlyArray<Event>): Effect.Effect<Reply, HttpError> =>
    Effect.matchEffect(ingest.publish(events), {
      onFailure: (error) =>
        Effect.logWarning("publish failed", { reason: error.reason, error: error.message }).pipe(
          Effect.andThen(Effect.fail(fromDependency(error)))
        ),
      onSuccess: (result) => Effect.succeed(answer(result))
    })
  return [
    {
      method: "POST",
      path: "/publish",
      auth: true,
      body: { maxBytes: limits.maxBodyBytes, precheck: requireJson },
      // Decoding and validation are plain code (an invalid body fails without running anything); only the
      // ingest call is an Effect.
      handler: ({ body }) => {
        // Too many items is found by a scan before parsing: an oversized batch is never materialised.
        const decoded = parseJson(body, { maxItems: limits.maxEventsPerRequest })
        if (!decoded.ok) {
          const message = decoded.message
          return Effect.fail(decoded.tooMany ? new TooManyEvents({ message }) : new MalformedBody({ message }))
        }
        const result = parse(decoded.value, decoded.text)
        return result.ok ? publish(result.events) : Effect.fail(refused(result))
      }
    }
  ]
}
