/**
 * The OpenAPI 3.1 document served at GET /openapi.json, built once at start from `@agg/schema`'s JSON Schemas
 * (event, publish body, stored event, query parameters and every response body) with the configured limits and
 * the error codes of `HttpErrors`. Only paths, statuses and headers are written here: change the schemas for
 * any body.
 */
import { eventQueryParameters, type Limits, makeJsonSchemas } from "@agg/schema"
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
            "200": { description: "The counters.", content: jsonContent(ref("StatsBody")) },
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
