/**
 * @agg/client: the HTTP client of the aggregator for Node 22+ and browsers. `createClient({ url, apiKey })` gives
 * `publish` (batches, safe retries), `read`/`pages`, `subscribe` (the live stream as an async iterator that
 * resumes by itself), `stats` and `health`; failures are `ClientError`s. No Effect, no Node modules.
 */
export type {
  ConflictsPage,
  DeadLetter,
  DeadLettersPage,
  DiscardReply,
  EventInput,
  EventsPage,
  HealthBody,
  Problem,
  RedriveReply,
  StatsBody,
  StoredConflict,
  StoredEvent
} from "@agg/schema"
export * from "./Client.ts"
export { backoffDelay, ClientError, parseRetryAfter, type RetryInfo, type RetryOptions } from "./Http.ts"
export type { ReconnectInfo, SubscribeOptions, SubscribeTarget } from "./Subscribe.ts"
