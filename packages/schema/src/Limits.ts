/**
 * The request limits (payload, events per request, body), as one value so the API can configure them and the schemas
 * can enforce them. Holds no validation logic itself.
 */

/** @category models */
export interface Limits {
  /** Maximum size of one event's `payload`, serialized as JSON, in bytes (default 64 KiB). */
  readonly maxPayloadBytes: number
  /** Maximum number of events in one publish request (default 10,000). */
  readonly maxEventsPerRequest: number
  /** Maximum size of one request body in bytes (default 10 MiB). */
  readonly maxBodyBytes: number
}

/** The default limits. @category constructors */
export const defaultLimits: Limits = {
  maxPayloadBytes: 64 * 1024,
  maxEventsPerRequest: 10_000,
  maxBodyBytes: 10 * 1024 * 1024
}

/**
 * The defaults with some values overridden, each checked to be a positive safe integer; throws a RangeError
 * naming the field otherwise, so a bad configuration fails at start.
 * @category constructors
 */
export const makeLimits = (overrides: Partial<Limits> = {}): Limits => {
  const limits = { ...defaultLimits, ...overrides }
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`Limits.${name} must be a positive integer, got ${String(value)}`)
    }
  }
  return limits
}
