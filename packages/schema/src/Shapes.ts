/**
 * The building blocks the response schemas (`Responses.ts`, `DeadLetters.ts`) are written with, so every body
 * words its messages and metadata the same way: whole non-negative counts, objects that name a missing member,
 * described members, JSON-object payloads and paged lists with their `next_after` cursor.
 *
 * Internal to the package (not re-exported by the index); defines no body of its own.
 */
import * as v from "valibot"
import { objectMessage } from "./Issues.ts"

/** A whole number ≥ 0, with messages naming `name`. */
export const count = (name: string) =>
  v.pipe(
    v.number(`${name} must be a number`),
    v.safeInteger(`${name} must be an integer`),
    v.minValue(0, `${name} must be at least 0`)
  )

/** A string, with a message naming `name`. */
export const text = (name: string) => v.string(`${name} must be a string`)

// Objects answer "<key> is required" for a missing member, like the event schema.
/** An object schema whose messages name `what` (not an object) or the missing member. */
export const object = <const E extends v.ObjectEntries>(what: string, entries: E) =>
  v.object(entries, objectMessage(what))

/** `schema` with a `description` for its JSON Schema. */
export const described = <S extends v.GenericSchema>(schema: S, description: string) =>
  v.pipe(schema, v.metadata({ description }))

/** A served payload: any JSON object, typed read-only. */
export const payload = () =>
  v.pipe(
    v.record(v.string(), v.unknown(), "payload must be a JSON object"),
    v.transform((x) => x as { readonly [key: string]: unknown })
  )

/** A read-only array of `item`, with a message naming `key`. */
export const list = <I extends v.GenericSchema>(key: string, item: I) =>
  v.pipe(v.array(item, `${key} must be an array`), v.readonly())

/**
 * One page of a listing: `{ <key>: item[], next_after }`, where `next_after` (checked by `cursor`, explained by
 * `cursorDescription`) is the `after` of the next read; the whole page carries `description`.
 */
export const page = <const K extends string, I extends v.GenericSchema, C extends v.GenericSchema>(
  what: string,
  key: K,
  item: I,
  cursor: C,
  cursorDescription: string,
  description: string
) =>
  v.pipe(
    object(what, { [key]: list(key, item), next_after: described(cursor, cursorDescription) } as {
      readonly [P in K]: ReturnType<typeof list<I>>
    } & { readonly next_after: ReturnType<typeof described<C>> }),
    v.metadata({ description })
  )
