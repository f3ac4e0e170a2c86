/**
 * The bodies the API answers with, as valibot schemas, each with the type of the same name:
 * `PublishReply` (`PublishCommitted` 200 / `PublishQueued` 202), `StatsBody`, `TopicsPage`, `EventsPage`, `HealthBody` and
 * `ErrorBody`. The API types its replies with them, its OpenAPI document takes their JSON Schema (see
 * `makeJsonSchemas`), and clients check what they receive with `checkResponse`.
 *
 * They check the shape (which members, which JSON types, whole non-negative counts), not the rules events are
 * judged by on the way in: a served event was judged when it was published, under the server's own limits.
 * Unknown members are dropped from the output. Does not render or send anything.
 */
import * as v from "valibot"
import { StoredEvent } from "./Event.ts"
import { Problem, toProblems } from "./Issues.ts"
import { count, described, list, object, page, payload, text } from "./Shapes.ts"

/** 200 to POST /publish in direct (embedded) mode: every event committed. @category models */
export const PublishCommitted = v.pipe(
  object("publish answer", {
    accepted: described(count("accepted"), "Events in the request."),
    unique: described(count("unique"), "Events new to the store."),
    duplicates: described(count("duplicates"), "Events dropped as duplicates of stored ones.")
  }),
  v.metadata({ description: "Direct mode: every event is committed." })
)
/** @category models */
export type PublishCommitted = v.InferOutput<typeof PublishCommitted>

/** 202 to POST /publish in queued (distributed) mode: every event is in the stream. @category models */
export const PublishQueued = v.pipe(
  object("publish answer", {
    accepted: described(count("accepted"), "Events in the request, all appended to the stream.")
  }),
  v.metadata({ description: "Queued mode: every event is in the stream; workers commit them later." })
)
/** @category models */
export type PublishQueued = v.InferOutput<typeof PublishQueued>

/** A successful POST /publish answer, in either mode. @category models */
export const PublishReply = v.union([PublishCommitted, PublishQueued], "publish answer must have a numeric accepted")
/** @category models */
export type PublishReply = v.InferOutput<typeof PublishReply>

/** One topic's counters in GET /stats. @category models */
export const TopicCounts = object("per-topic counters", {
  unique_processed: count("unique_processed"),
  duplicate_dropped: count("duplicate_dropped"),
  conflicts: count("conflicts")
})
/** @category models */
export type TopicCounts = v.InferOutput<typeof TopicCounts>

/**
 * GET /stats: the seed-compatible counters, plus conflicts, pending, dead-lettered and per-topic counts.
 * @category models
 */
export const StatsBody = object("stats", {
  received: described(count("received"), "Events accepted."),
  unique_processed: described(count("unique_processed"), "Events stored, one per (topic, event_id)."),
  duplicate_dropped: described(count("duplicate_dropped"), "Deliveries dropped as duplicates (conflicts included)."),
  conflicts: described(count("conflicts"), "Duplicates whose content differed from the stored event."),
  pending: described(count("pending"), "Accepted, not yet processed (queued mode)."),
  dead_lettered: v.exactOptional(
    described(count("dead_lettered"), "Entries moved to the dead-letter store instead of committed.")
  ),
  discarded: v.exactOptional(
    described(count("discarded"), "Dead-lettered entries removed for good (discarded, or dropped by the cap).")
  ),
  topics: v.pipe(
    v.array(v.string("topics must hold strings"), "topics must be an array"),
    v.readonly(),
    v.metadata({ description: "Topic names, sorted: the first 1,000 (GET /topics pages them all)." })
  ),
  topic_count: v.exactOptional(described(count("topic_count"), "How many topics there are, listed or not.")),
  per_topic: v.exactOptional(
    v.pipe(
      v.record(v.string(), TopicCounts, "per_topic must be an object"),
      v.readonly(),
      v.metadata({ description: "Counters per topic, keyed by topic name." })
    )
  ),
  uptime_seconds: described(count("uptime_seconds"), "Whole seconds since the API started.")
})
/** @category models */
export type StatsBody = v.InferOutput<typeof StatsBody>

/** One topic of GET /topics: its name and counters. @category models */
export const TopicItem = object("topic", {
  topic: text("topic"),
  unique_processed: count("unique_processed"),
  duplicate_dropped: count("duplicate_dropped"),
  conflicts: count("conflicts")
})
/** @category models */
export type TopicItem = v.InferOutput<typeof TopicItem>

/**
 * GET /topics: one page of topics by name, with their counters. `next_after` is the `after` of the next page:
 * the last returned name, or the given `after` when the page is empty.
 * @category models
 */
export const TopicsPage = page(
  "topics page",
  "topics",
  TopicItem,
  text("next_after"),
  "The `after` of the next page: the last returned name, or the given `after` when the page is empty.",
  "One page of GET /topics."
)
/** @category models */
export type TopicsPage = v.InferOutput<typeof TopicsPage>

/**
 * GET /events: one page. `next_after` is the `after` of the next read: the last returned offset (with `topic`)
 * or position (without), or the given `after` when the page is empty. Events of an all-topics read carry their
 * `position`.
 * @category models
 */
export const EventsPage = page(
  "events page",
  "events",
  StoredEvent,
  count("next_after"),
  "The `after` of the next read: the last returned offset (with `topic`) or position (without), or the " +
    "given `after` when the page is empty.",
  "One page of GET /events."
)
/** @category models */
export type EventsPage = v.InferOutput<typeof EventsPage>

/**
 * A rejected later version of a key: it arrived with the same `(topic, event_id)` as a stored event but another
 * `timestamp`, `source` or `payload`. The first version stays stored (at `stored_offset`); this one is kept
 * beside it so an id-reuse bug can be seen, not only counted. @category models
 */
export const StoredConflict = object("conflict", {
  topic: described(text("topic"), "The key's topic."),
  event_id: described(text("event_id"), "The key's event id."),
  timestamp: described(text("timestamp"), "The rejected version's timestamp (UTC)."),
  source: described(text("source"), "The rejected version's source."),
  payload: described(payload(), "The rejected version's payload."),
  stored_offset: described(count("stored_offset"), "Offset of the stored (first) version of the key."),
  version: described(
    count("version"),
    "Which rejected version of its key this is, from 1; only the first 10 of a key are kept."
  ),
  rejected: described(count("rejected"), "How many versions of this key were rejected in all, kept or not."),
  seen_at: described(text("seen_at"), "When the rejected version was committed (UTC)."),
  position: described(count("position"), "Its place in the conflicts' order, strictly rising; the paging cursor.")
})
/** @category models */
export type StoredConflict = v.InferOutput<typeof StoredConflict>

/** One page of GET /conflicts. @category models */
export const ConflictsPage = page(
  "conflicts page",
  "conflicts",
  StoredConflict,
  count("next_after"),
  "The `after` of the next read: the last returned position, or the given `after` when the page is empty.",
  "One page of GET /conflicts."
)
/** @category models */
export type ConflictsPage = v.InferOutput<typeof ConflictsPage>

/** One dependency's state in GET /health. @category models */
export const HealthCheck = object("check", {
  status: v.picklist(["up", "down"], 'status must be "up" or "down"'),
  error: v.exactOptional(
    v.pipe(
      text("error"),
      v.metadata({ description: 'Why it is down, coarsely: "unreachable", "failing" or "timed out".' })
    )
  )
})
/** @category models */
export type HealthCheck = v.InferOutput<typeof HealthCheck>

/** GET /health: 200 with `ok` when every dependency is up, else 503 with `unavailable`. @category models */
export const HealthBody = object("health", {
  status: v.picklist(["ok", "unavailable"], 'status must be "ok" or "unavailable"'),
  mode: v.picklist(["direct", "queued"], 'mode must be "direct" or "queued"'),
  checks: object("checks", {
    store: HealthCheck,
    stream: v.exactOptional(v.pipe(HealthCheck, v.metadata({ description: "Queued mode only: the Redis stream." })))
  }),
  backlog: v.exactOptional(
    described(
      object("backlog", {
        size: v.nullable(count("size")),
        max: count("max"),
        accepting: v.boolean("accepting must be a boolean")
      }),
      "Queued mode only: entries waiting (stream lag + pending) as last measured (null: unknown), the high-water " +
        "mark above which POST /publish answers 503, and whether publishing is accepted now. It does not change " +
        "the status: reads are served either way."
    )
  )
})
/** @category models */
export type HealthBody = v.InferOutput<typeof HealthBody>

/** One consumer of the group in GET /consumers. @category models */
export const ConsumerItem = object("consumer", {
  name: text("name"),
  pending: described(count("pending"), "Entries delivered to it and not yet acknowledged."),
  idle_ms: described(count("idle_ms"), "Milliseconds since it last read or claimed."),
  alive: described(
    v.boolean("alive must be a boolean"),
    "Whether it holds a live heartbeat mark (without one its entries are reclaimed by the others)."
  ),
  partitions: described(
    list("partitions", count("partition")),
    "The log partitions it owns now (reads from), computed from the live consumers; empty when it is not alive."
  )
})
/** @category models */
export type ConsumerItem = v.InferOutput<typeof ConsumerItem>

/** GET /consumers: the consumer group's members (queued mode; empty in direct mode). @category models */
export const ConsumersBody = object("consumers", {
  consumers: list("consumers", ConsumerItem)
})
/** @category models */
export type ConsumersBody = v.InferOutput<typeof ConsumersBody>

/**
 * The error body, `{"error": {"code", "message", "issues"?, "issue_count"?}}`, with `code` one of `codes` when
 * given (the OpenAPI document lists the API's codes); any string otherwise, so a client keeps working when codes
 * are added.
 * @category constructors
 */
export const makeErrorBody = (codes?: ReadonlyArray<string>) =>
  object("error body", {
    error: object("error", {
      code:
        codes === undefined
          ? text("code")
          : v.pipe(v.picklist(codes, "code must be a known error code"), v.metadata({ description: "Stable." })),
      message: v.pipe(text("message"), v.metadata({ description: "For people; may change." })),
      issues: v.exactOptional(
        v.pipe(
          v.array(Problem, "issues must be an array"),
          v.readonly(),
          v.metadata({
            description: "The problems found (invalid events, bad query parameters): at most the first 100."
          })
        )
      ),
      issue_count: v.exactOptional(
        v.pipe(
          count("issue_count"),
          v.metadata({ description: "How many problems there are in all (invalid events), listed or not." })
        )
      )
    })
  })

/** Any error answer of the API. @category models */
export const ErrorBody = makeErrorBody()
/** @category models */
export type ErrorBody = v.InferOutput<typeof ErrorBody>

/**
 * Check a received body against one of these schemas (e.g. `checkResponse(StatsBody, JSON.parse(text))`): the
 * typed value with unknown members dropped, or every problem found, with its path.
 * @category constructors
 */
export const checkResponse = <S extends v.GenericSchema>(
  schema: S,
  body: unknown
):
  | { readonly ok: true; readonly value: v.InferOutput<S> }
  | { readonly ok: false; readonly problems: Array<Problem> } => {
  const result = v.safeParse(schema, body)
  return result.success ? { ok: true, value: result.output } : { ok: false, problems: toProblems(result.issues) }
}
