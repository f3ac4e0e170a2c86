/**
 * The OpenAPI 3.1 document served at GET /openapi.json, built once at start from `@agg/schema`'s JSON Schemas
 * (event, publish body, stored event, page, query parameters) with the configured limits, plus the response
 * shapes of the API and the error codes of `HttpErrors`. Never hand-edited: change the schemas instead.
 */
import { eventQueryParameters, type Limits, makeJsonSchemas } from "@agg/schema"
import { httpErrors } from "./HttpErrors.ts"

type Json = { readonly [key: string]: unknown }

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` })
const jsonContent = (schema: Json): Json => ({ "application/json": { schema } })
const errorResponse = (description: string): Json => ({ description, content: jsonContent(ref("Error")) })
const retryAfter: Json = {
  "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer", minimum: 1 } }
}

const counts = { type: "integer", minimum: 0 }

/** The document for the given limits; `auth` adds the bearer scheme. @category constructors */
export const makeOpenApi = (options: { readonly limits: Limits; readonly auth: boolean; readonly version: string }) => {
  const schemas = makeJsonSchemas(options.limits)
  const security = options.auth ? [{ bearer: [] }] : []
  const unauthorized = options.auth ? { "401": errorResponse("Missing or wrong bearer token.") } : {}
  const codes = [...new Set([...Object.values(httpErrors).map((e) => e.code), "overloaded", "shutting_down"])]
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
      "/stats": {
        get: {
          summary: "Counters",
          responses: {
            "200": { description: "The counters.", content: jsonContent(ref("Stats")) },
            ...unauthorized,
            "503": { ...errorResponse("The store or stream is unavailable."), headers: retryAfter }
          }
        }
      },
      "/health": {
        get: {
          summary: "Health of the service and its dependencies (no auth)",
          security: [],
          responses: {
            "200": { description: "Every dependency is up.", content: jsonContent(ref("Health")) },
            "503": { description: "Some dependency is down.", content: jsonContent(ref("Health")) }
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
      schemas: {
        ...schemas,
        PublishCommitted: {
          type: "object",
          properties: { accepted: counts, unique: counts, duplicates: counts },
          required: ["accepted", "unique", "duplicates"]
        },
        PublishQueued: { type: "object", properties: { accepted: counts }, required: ["accepted"] },
        Stats: {
          type: "object",
          properties: {
            received: counts,
            unique_processed: counts,
            duplicate_dropped: counts,
            conflicts: counts,
            pending: counts,
            dead_lettered: counts,
            topics: { type: "array", items: { type: "string" } },
            per_topic: {
              type: "object",
              additionalProperties: {
                type: "object",
                properties: { unique_processed: counts, duplicate_dropped: counts, conflicts: counts }
              }
            },
            uptime_seconds: counts
          },
          required: [
            "received",
            "unique_processed",
            "duplicate_dropped",
            "conflicts",
            "pending",
            "topics",
            "uptime_seconds"
          ]
        },
        Health: {
          type: "object",
          properties: {
            status: { enum: ["ok", "unavailable"] },
            mode: { enum: ["direct", "queued"] },
            checks: {
              type: "object",
              additionalProperties: {
                type: "object",
                properties: { status: { enum: ["up", "down"] }, error: { type: "string" } },
                required: ["status"]
              }
            }
          },
          required: ["status", "mode", "checks"]
        },
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              properties: {
                code: { enum: codes },
                message: { type: "string" },
                issues: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      index: { type: ["integer", "null"], description: "The event's position in the batch." },
                      path: { type: "string", description: "Field path within the event, or the parameter." },
                      message: { type: "string" }
                    },
                    required: ["index", "path", "message"]
                  }
                }
              },
              required: ["code", "message"]
            }
          },
          required: ["error"]
        }
      },
      ...(options.auth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {})
    }
  }
}
