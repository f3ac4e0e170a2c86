/**
 * JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of the event, the publish body, the stored event, the
 * GET /events query parameters and every response body (`Responses.ts`), generated from the valibot schemas with
 * the configured limits, for `components.schemas` of an OpenAPI document. References point at
 * `#/components/schemas/<Name>`.
 *
 * Runtime-only checks (code point lengths, calendar dates, payload size) cannot be expressed by the converter:
 * the schemas carry them as `minLength`/`maxLength`/`format`/`pattern`/`description` metadata instead. Does not
 * build the OpenAPI document itself (paths, responses): that belongs to the API.
 */
import { type ConversionConfig, toJsonSchemaDefs } from "@valibot/to-json-schema"
import { DeadLetter, DeadLetterSelection, DeadLettersPage, DiscardReply, RedriveReply } from "./DeadLetters.ts"
import { makeEvent, StoredEvent } from "./Event.ts"
import { DEFAULT_PAGE_LIMIT, EventQuery as EventQuerySchema } from "./EventQuery.ts"
import { Problem } from "./Issues.ts"
import { defaultLimits, type Limits } from "./Limits.ts"
import {
  ConflictsPage,
  ConsumersBody,
  EventsPage,
  HealthBody,
  makeErrorBody,
  PublishCommitted,
  PublishQueued,
  PublishReply,
  StatsBody,
  StoredConflict,
  TopicsPage
} from "./Responses.ts"

/** A JSON Schema object. @category models */
export type JsonSchema = { readonly [keyword: string]: unknown }

/** The component schemas, keyed by their name under `components.schemas`. @category models */
export interface JsonSchemas {
  readonly Event: JsonSchema
  readonly StoredEvent: JsonSchema
  readonly PublishBody: JsonSchema
  readonly EventsPage: JsonSchema
  readonly EventQuery: JsonSchema
  readonly PublishCommitted: JsonSchema
  readonly PublishQueued: JsonSchema
  readonly PublishReply: JsonSchema
  readonly StatsBody: JsonSchema
  readonly TopicsPage: JsonSchema
  readonly HealthBody: JsonSchema
  readonly ConsumersBody: JsonSchema
  readonly ErrorBody: JsonSchema
  readonly Problem: JsonSchema
  readonly StoredConflict: JsonSchema
  readonly ConflictsPage: JsonSchema
  readonly DeadLetter: JsonSchema
  readonly DeadLettersPage: JsonSchema
  readonly DeadLetterSelection: JsonSchema
  readonly RedriveReply: JsonSchema
  readonly DiscardReply: JsonSchema
}

/** An OpenAPI 3.1 query parameter object. @category models */
export interface QueryParameter {
  readonly name: string
  readonly in: "query"
  readonly required: false
  readonly description?: string
  readonly schema: JsonSchema
}

const config = (): ConversionConfig => ({
  target: "draft-2020-12",
  // Describe what a valid value looks like after decoding (e.g. `after` as an integer, not a string).
  typeMode: "output",
  // Runtime-only steps; their JSON Schema counterparts are given as metadata in the schemas.
  ignoreActions: ["check", "raw_check", "transform", "raw_transform", "readonly"],
  overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`
})

const ref = (name: keyof JsonSchemas): JsonSchema => ({ $ref: `#/components/schemas/${name}` })

/**
 * The component schemas for the given limits: `Event`, `StoredEvent`, `PublishBody` (oneOf the three shapes),
 * `EventQuery` (the parameters as one object; see `eventQueryParameters`) and the response bodies (`EventsPage`,
 * `PublishCommitted`/`PublishQueued`/`PublishReply`, `StatsBody`, `TopicsPage`, `HealthBody`, `ConsumersBody`, `ErrorBody` and its
 * `Problem`, the conflicts' `StoredConflict`/`ConflictsPage`, and the dead letters' `DeadLetter`/`DeadLettersPage`,
 * the `DeadLetterSelection` request body and its `RedriveReply`/`DiscardReply`).
 * `errorCodes`: the codes `ErrorBody.error.code` may take (any string when absent).
 * @category constructors
 */
export const makeJsonSchemas = (
  limits: Pick<Limits, "maxPayloadBytes" | "maxEventsPerRequest"> = defaultLimits,
  options: { readonly errorCodes?: ReadonlyArray<string> } = {}
): JsonSchemas => {
  const responses = {
    EventsPage,
    PublishCommitted,
    PublishQueued,
    PublishReply,
    StatsBody,
    TopicsPage,
    HealthBody,
    ConsumersBody,
    ErrorBody: makeErrorBody(options.errorCodes),
    Problem,
    StoredConflict,
    ConflictsPage,
    DeadLetter,
    DeadLettersPage,
    DeadLetterSelection,
    RedriveReply,
    DiscardReply
  }
  const defs = toJsonSchemaDefs(
    { Event: makeEvent(limits), StoredEvent, EventQuery: EventQuerySchema, ...responses },
    config()
  ) as Record<"Event" | "StoredEvent" | "EventQuery" | keyof typeof responses, JsonSchema>
  const batch = {
    type: "array",
    items: ref("Event"),
    minItems: 1,
    maxItems: limits.maxEventsPerRequest
  }
  const PublishBody: JsonSchema = {
    description:
      `One event, an array of events, or {"events": [...]}; 1–${limits.maxEventsPerRequest} events, all-or-nothing. ` +
      "An object whose `events` member is an array is the wrapper.",
    oneOf: [
      ref("Event"),
      { ...batch, description: "An array of events." },
      {
        type: "object",
        description: "A wrapper object; other members are ignored.",
        properties: { events: batch },
        required: ["events"]
      }
    ]
  }
  const params = defs.EventQuery["properties"] as Record<"topic" | "after" | "since" | "limit", JsonSchema>
  const { required: _none, ...queryObject } = defs.EventQuery
  const EventQuery: JsonSchema = {
    ...queryObject,
    description: "GET /events query parameters; unknown or repeated parameters are refused.",
    properties: {
      topic: params.topic,
      after: { ...params.after, default: 0 },
      since: params.since,
      limit: { ...params.limit, default: DEFAULT_PAGE_LIMIT }
    },
    additionalProperties: false
  }
  return { ...defs, PublishBody, EventQuery }
}

/**
 * The GET /events parameters as OpenAPI 3.1 parameter objects, for `paths["/events"].get.parameters`.
 * @category constructors
 */
export const eventQueryParameters = (): Array<QueryParameter> => {
  const query = makeJsonSchemas().EventQuery as { readonly properties: Record<string, JsonSchema> }
  return Object.entries(query.properties).map(([name, schema]) => {
    const { description, ...rest } = schema
    return typeof description === "string"
      ? { name, in: "query", required: false, description, schema: rest }
      : { name, in: "query", required: false, schema: rest }
  })
}
