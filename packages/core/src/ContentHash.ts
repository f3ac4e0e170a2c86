/**
 * The content hash of an event: a stable fingerprint of `timestamp`, `source` and `payload`, used to tell a
 * duplicate (same key, same content) from a conflict (same key, different content). Independent of the key order
 * of the payload, so `{"a":1,"b":2}` and `{"b":2,"a":1}` hash the same.
 *
 * Pure TypeScript (canonical JSON + FNV-1a 64), so the PostgreSQL adapter and any other service compute the very
 * same string. It is a fingerprint, not a cryptographic hash: it does not resist deliberate collisions (a collision
 * would only make a conflicting republish count as a plain duplicate; the first version is kept either way).
 */
import type { Event } from "@agg/schema"

/**
 * JSON with object keys sorted at every depth, so equal JSON values always give equal strings. Arrays keep their
 * order; `undefined` members are dropped as `JSON.stringify` does.
 * @category constructors
 */
export const canonicalJson = (value: unknown): string => JSON.stringify(value, sortKeys)

// A replacer that rebuilds every plain object with sorted keys; JSON.stringify then emits them in that order.
function sortKeys(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  // A null prototype: on a plain object, assigning "__proto__" would set the prototype and drop the key.
  const sorted: Record<string, unknown> = Object.create(null)
  for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k]
  return sorted
}

const encoder = new TextEncoder()

/**
 * FNV-1a 64 of the UTF-8 bytes of `text`, as 16 lowercase hex digits. Computed on two 32-bit halves so it needs
 * neither BigInt nor a crypto module.
 * @category constructors
 */
export const fnv1a64 = (text: string): string => {
  const bytes = encoder.encode(text)
  // offset basis 0xcbf29ce484222325
  let hi = 0xcbf29ce4
  let lo = 0x84222325
  for (let i = 0; i < bytes.length; i++) {
    lo ^= bytes[i]!
    lo >>>= 0
    // h * prime, prime = 2^40 + 0x1b3: (h * 0x1b3) + (h << 40), mod 2^64
    const loProduct = lo * 0x1b3 // < 2^41: exact in a double
    const carry = Math.floor(loProduct / 0x100000000)
    hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0
    lo = loProduct >>> 0
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0")
}

/**
 * The content hash of an event: 16 hex digits over `[timestamp, source, payload]` in canonical JSON. The topic
 * and event id are the key, not content, and are left out.
 * @category constructors
 */
export const contentHash = (event: Pick<Event, "timestamp" | "source" | "payload">): string =>
  fnv1a64(canonicalJson([event.timestamp, event.source, event.payload]))
