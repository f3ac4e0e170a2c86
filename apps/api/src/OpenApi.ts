/**
 * The OpenAPI 3.1 document served at GET /openapi.json, built once at start from `@agg/schema`'s JSON Schemas
 * (event, publish body, stored event, query parameters and every response body) with the configured limits and
 * the error codes of `HttpErrors`. Only paths, statuses and headers are written here: change the schemas for
 * any body.
 */
import { DEAD_LETTER_ID, eventQueryParameters, type Limits, makeJsonSchemas } from "@agg/schema"
import { httpErrors } from "./HttpErrors.ts"

type Json = { readonly [key: string]: unknown }

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` })
const jsonContent = (schema: Json): Json => ({ "application/json": { schema } })
const errorResponse = (description: string): Json => ({ description, content: jsonContent(ref("ErrorBody")) })
const retryAfter: Json = {
  "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer", minimum: 1 } }
}

/** The document for the given limits; `auth` adds the bearer scheme. @category constructors */
export const makeOpenApi = (options: { readonly limits: Limits; readonly auth: boolean; readonly version: string }) => {
  const codes = [...new Set([...Object.values(httpErrors).map((e) => e.code), "overloaded", "shutting_down"])]
  const schemas = makeJsonSchemas(options.limits, { errorCodes: codes })
  const security = options.auth ? [{ bearer: [] }] : []
  const unauthorized = options.auth ? { "401": errorResponse("Missing or wrong bearer token.") } : {}
  const adminResponses = {
    "400": errorResponse('Malformed JSON, or not {"ids": [...]} / {"all": true} (`invalid_body`).'),
    ...unauthorized,
    ...(options.auth ? { "403": errorResponse("A valid key that is no admin key (`admin_key_required`).") } : {}),
    "404": errorResponse("Embedded mode: no stream, no dead letters (`no_dead_letter_stream`)."),
    "503": { ...errorResponse("The stream is unavailable."), headers: retryAfter }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "agg: pub-sub log aggregator",
      version: options.version,
      description:
        "Publish events (at-least-once; duplicates are dropped by (topic, event_id)), read them back per topic in " +
        'offset order, and watch the counters. Errors are `{"error": {"code", "message", "issues"?}}`.'
    },
    servers: [{ url: "/" }],
    security,
    paths: {
      "/publish": {
        post: {
          summary: 'Publish one event, an array of events, or {"events": [...]}',
          description:
            `All-or-nothing: at most ${options.limits.maxEventsPerRequest} events and ${options.limits.maxBodyBytes} ` +
            `bytes per request; payload at most ${options.limits.maxPayloadBytes} bytes as JSON.`,
          requestBody: { required: true, content: jsonContent(ref("PublishBody")) },
          responses: {
            "200": {
              description: "Embedded mode: every event committed.",
              content: jsonContent(ref("PublishCommitted"))
            },
            "202": {
              description: "Distributed mode: every event is in the stream.",
              content: jsonContent(ref("PublishQueued"))
            },
            "400": errorResponse("Malformed JSON, empty batch, or invalid events (each listed in `issues`)."),
            ...unauthorized,
            "413": errorResponse("Body or batch too large."),
            "415": errorResponse("Content-Type is not application/json."),
            "503": { ...errorResponse("The store or stream cannot take the events now."), headers: retryAfter }
          }
        }
      },
      "/events": {
        get: {
          summary: "Read stored events, one page at a time",
          parameters: eventQueryParameters(),
          responses: {
            "200": { description: "One page.", content: jsonContent(ref("EventsPage")) },
            "400": errorResponse("Bad query parameters (each listed in `issues`)."),
            ...unauthorized,
            "503": { ...errorResponse("The store is unavailable."), headers: retryAfter }
          }
        }
      },
      "/events/stream": {
        get: {
          summary: "Follow stored events live (Server-Sent Events)",
          description:
            "The events after the cursor, then each event as it commits: `id: <offset>` (with `topic`) or " +
            "`id: <position>` (all topics), `data: <StoredEvent JSON>`. Reconnect with `Last-Event-ID` (it wins " +
            "over `after` and `since`) to resume exactly after it. Heartbeat comments while idle. A subscriber that " +
            'cannot keep up gets a final `event: error` with `{"error":{"code":"slow_subscriber",…}}` and is closed.',
          parameters: eventQueryParameters().filter((p) => p.name !== "limit"),
          responses: {
            "200": {
              description: "The event stream (never ends by itself).",
              content: { "text/event-stream": { schema: { type: "string" } } }
            },
            "400": errorResponse("Bad query parameters or Last-Event-ID (each listed in `issues`)."),
            ...unauthorized,
            "503": { ...errorResponse("The store is unavailable."), headers: retryAfter }
          }
        }
      },
      "/events/{topic}/{event_id}": {
        get: {
          summary: "The stored version of one event, by its key",
          description:
            "Both segments are URL-encoded (`/` as `%2F`); any valid topic or id round-trips. Later versions of " +
            "the key with other content are not stored: see /conflicts.",
          parameters: [
            { name: "topic", in: "path", required: true, schema: { type: "string", minLength: 1, maxLength: 255 } },
            { name: "event_id", in: "path", required: true, schema: { type: "string", minLength: 1, maxLength: 255 } }
          ],
          responses: {
            "200": { description: "The stored event.", content: jsonContent(ref("StoredEvent")) },
            "400": errorResponse("A segment is no valid topic or event id (listed in `issues`)."),
            ...unauthorized,
            "404": errorResponse("No event has this key (`event_not_found`)."),
            "503": { ...errorResponse("The store is unavailable."), headers: retryAfter }
          }
        }
      },
      "/conflicts": {
        get: {
          summary: "Rejected later versions of keys (same key, other content), one page at a time",
          description: "The first 10 versions of a key are kept, all are counted (`rejected`).",
          parameters: eventQueryParameters().filter((p) => p.name !== "since"),
          responses: {
            "200": { description: "One page.", content: jsonContent(ref("ConflictsPage")) },
            "400": errorResponse("Bad query parameters (each listed in `issues`)."),
            ...unauthorized,
            "503": { ...errorResponse("The store is unavailable."), headers: retryAfter }
          }
        }
      },
      "/dead-letters": {
        get: {
          summary: "Dead-lettered stream entries, oldest first, one page at a time",
          description: "Embedded mode has no stream: the page is always empty.",
          parameters: [
            {
              name: "after",
              in: "query",
              required: false,
              description: "Entries after this dead-letter id (the previous page's next_after); default: the oldest.",
              schema: { type: "string", pattern: DEAD_LETTER_ID.source }
            },
            {
              name: "limit",
              in: "query",
              required: false,
              description: "At most this many entries; default 100.",
              schema: { type: "integer", minimum: 1, maximum: 1000 }
            }
          ],
          responses: {
            "200": { description: "One page.", content: jsonContent(ref("DeadLettersPage")) },
            "400": errorResponse("Bad query parameters (each listed in `issues`)."),
            ...unauthorized,
            "503": { ...errorResponse("The stream is unavailable."), headers: retryAfter }
          }
        }
      },
      "/dead-letters/redrive": {
        post: {
          summary: "Append dead letters back to the stream (admin key)",
          description:
            "Each entry is appended back and removed from the dead letters in one step; one that fails again is " +
            "dead-lettered again. `all`: those present when the request starts.",
          requestBody: { required: true, content: jsonContent(ref("DeadLetterSelection")) },
          responses: {
            "200": { description: "What was redriven.", content: jsonContent(ref("RedriveReply")) },
            ...adminResponses
          }
        }
      },
      "/dead-letters/discard": {
        post: {
          summary: "Discard dead letters for good (admin key); counted in `discarded`",
          requestBody: { required: true, content: jsonContent(ref("DeadLetterSelection")) },
          responses: {
            "200": { description: "What was discarded.", content: jsonContent(ref("DiscardReply")) },
            ...adminResponses
          }
        }
      },
      "/dead-letters/{id}": {
        delete: {
          summary: "Discard one dead letter for good (admin key); counted in `discarded`",
          parameters: [
            { name: "id", in: "path", required: true, schema: { type: "string", pattern: DEAD_LETTER_ID.source } }
          ],
          responses: {
            "200": { description: "It was discarded.", content: jsonContent(ref("DiscardReply")) },
            ...adminResponses,
            "404": errorResponse(
              "No such dead letter (`dead_letter_not_found`), or embedded mode (`no_dead_letter_stream`)."
            )
          }
        }
      },
      "/stats": {
        get: {
          summary: "Counters",
          responses: {
            "200": { description: "The counters.", content: jsonContent(ref("StatsBody")) },
            ...unauthorized,
            "503": { ...errorResponse("The store or stream is unavailable."), headers: retryAfter }
          }
        }
      },
      "/topics": {
        get: {
          summary: "Topics by name, with their counters, one page at a time",
          parameters: [
            {
              name: "after",
              in: "query",
              required: false,
              description:
                "Topics whose name sorts after this one (the previous page's next_after); default: from the first.",
              schema: { type: "string", maxLength: 255 }
            },
            {
              name: "limit",
              in: "query",
              required: false,
              description: "At most this many topics; default 100.",
              schema: { type: "integer", minimum: 1, maximum: 1000 }
            }
          ],
          responses: {
            "200": { description: "One page.", content: jsonContent(ref("TopicsPage")) },
            "400": errorResponse("Bad query parameters (each listed in `issues`)."),
            ...unauthorized,
            "503": { ...errorResponse("The store is unavailable."), headers: retryAfter }
          }
        }
      },
      "/consumers": {
        get: {
          summary: "The consumer group's members: pending, idle time, heartbeat (queued mode; empty in direct mode)",
          responses: {
            "200": { description: "The consumers.", content: jsonContent(ref("ConsumersBody")) },
            ...unauthorized,
            "503": { ...errorResponse("The stream is unavailable."), headers: retryAfter }
          }
        }
      },
      "/health": {
        get: {
          summary: "Health of the service and its dependencies (no auth)",
          security: [],
          responses: {
            "200": { description: "Every dependency is up.", content: jsonContent(ref("HealthBody")) },
            "503": { description: "Some dependency is down.", content: jsonContent(ref("HealthBody")) }
          }
        }
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics",
          responses: {
            "200": {
              description: "Prometheus text format 0.0.4.",
              content: { "text/plain": { schema: { type: "string" } } }
            },
            ...unauthorized
          }
        }
      }
    },
    components: {
      schemas,
      ...(options.auth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {})
    }
  }
}
