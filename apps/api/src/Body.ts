/**
 * Reading a request body within a byte limit, and checking it is JSON: the announced Content-Length is refused up
 * front when over the limit (node:http then drops the unread body); otherwise bytes are counted as they arrive
 * and buffering stops at the first byte over the limit. Then strict decoding: UTF-8 (invalid sequences refused, not replaced),
 * `JSON.parse`, and a walk that refuses what PostgreSQL would refuse later (U+0000, unpaired surrogates) and
 * nesting deeper than `MAX_JSON_DEPTH`, so bad input always ends as a 4xx and never as a store error.
 *
 * Does not validate events (that is `@agg/schema`'s `parsePublishBody`).
 */
import type { IncomingMessage } from "node:http"
import { BodyAborted, BodyTooLarge, UnsupportedMediaType } from "./HttpErrors.ts"

/** Deepest nesting of arrays/objects accepted in a body (wrapper + array + event + payload levels included). */
export const MAX_JSON_DEPTH = 64

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i

/** 415 unless the Content-Type is application/json (parameters such as charset=utf-8 allowed). */
export const requireJson = (request: IncomingMessage): UnsupportedMediaType | undefined => {
  const type = request.headers["content-type"]
  if (type !== undefined && JSON_MEDIA_TYPE.test(type)) {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1]
    if (charset === undefined || charset.toLowerCase() === "utf-8" || charset.toLowerCase() === "utf8") {
      return undefined
    }
    return new UnsupportedMediaType({ message: `charset ${charset} is not supported: send UTF-8 JSON` })
  }
  return new UnsupportedMediaType({
    message: `Content-Type must be application/json (got ${type === undefined ? "none" : JSON.stringify(type.slice(0, 100))})`
  })
}

/** Bytes of an unwanted body read and dropped after the answer, before the connection is cut. */
export const DISCARD_LIMIT = 64 * 1024
/** How long an unwanted body is read after the answer before the connection is cut. */
export const DISCARD_MS = 2_000

/**
 * Drop the unread rest of a body the server will not use (it answered already: 401, 413, 415, …), and cut the
 * connection once `DISCARD_LIMIT` bytes or `DISCARD_MS` have passed. The small allowance lets a client that is
 * still sending read the answer instead of a reset; the cut keeps a huge or endless body from costing more.
 */
export const discardRest = (request: IncomingMessage) => {
  if (request.complete || request.destroyed) return
  let dropped = 0
  const cut = () => request.socket.destroy()
  const timer = setTimeout(cut, DISCARD_MS)
  timer.unref()
  request.on("data", (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > DISCARD_LIMIT) cut()
  })
  request.on("end", () => clearTimeout(timer))
  request.on("close", () => clearTimeout(timer))
  request.on("error", () => undefined)
  request.resume()
}

const tooLarge = (maxBytes: number) =>
  new BodyTooLarge({ message: `the request body exceeds the limit of ${maxBytes} bytes` })

/**
 * Collect the whole body, at most `maxBytes` long, and call `done` once with it or with the error. Plain
 * callbacks rather than an Effect: the server starts the request's fiber once the body is in, so a request
 * costs one fiber run without a suspension.
 */
export const collectBody = (
  request: IncomingMessage,
  maxBytes: number,
  done: (result: Buffer | BodyTooLarge | BodyAborted) => void
): void => {
  const announced = request.headers["content-length"]
  if (announced !== undefined && Number(announced) > maxBytes) {
    done(tooLarge(maxBytes))
    return
  }
  const chunks: Array<Buffer> = []
  let size = 0
  const cleanup = () => {
    request.off("data", onData)
    request.off("end", onEnd)
    request.off("error", onError)
    request.off("close", onClose)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size > maxBytes) {
      cleanup()
      discardRest(request)
      done(tooLarge(maxBytes))
      return
    }
    chunks.push(chunk)
  }
  const onEnd = () => {
    cleanup()
    done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
  }
  const onError = () => {
    cleanup()
    done(new BodyAborted({ message: "the request body could not be read" }))
  }
  const onClose = () => {
    if (!request.complete) onError()
  }
  request.on("data", onData)
  request.on("end", onEnd)
  request.on("error", onError)
  request.on("close", onClose)
}

// String.prototype.isWellFormed (ES2024, Node ≥ 20) is not in this project's ES2023 lib typings.
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false })

/** What the walk found wrong, and where: the path's segments, innermost first (pushed while unwinding). */
interface Found {
  readonly what: string
  readonly segments: Array<string | number>
}

const found = (what: string): Found => ({ what, segments: [] })

/**
 * The first problem of a parsed value, or undefined. `strings`: whether strings and keys need checking at all
 * (see `parseJson`); depth is always checked. The path is only built for a problem, not for every value.
 */
const walk = (value: unknown, depth: number, strings: boolean): Found | undefined => {
  if (typeof value === "string") {
    if (!strings) return undefined
    if (value.includes("\u0000")) return found("strings must not contain U+0000")
    if (!isWellFormed(value)) return found("strings must not contain unpaired UTF-16 surrogates")
    return undefined
  }
  if (typeof value !== "object" || value === null) return undefined
  if (depth >= MAX_JSON_DEPTH) return found(`nested deeper than ${MAX_JSON_DEPTH} levels`)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = walk(value[i], depth + 1, strings)
      if (problem !== undefined) {
        problem.segments.push(i)
        return problem
      }
    }
    return undefined
  }
  for (const key in value) {
    if (strings && (key.includes("\u0000") || !isWellFormed(key))) {
      return found("keys must not contain U+0000 or unpaired UTF-16 surrogates")
    }
    const problem = walk((value as Record<string, unknown>)[key], depth + 1, strings)
    if (problem !== undefined) {
      problem.segments.push(key)
      return problem
    }
  }
  return undefined
}

/** `a.b[2].c` from the segments (innermost first); "body" for the root. */
const pathOf = (segments: ReadonlyArray<string | number>): string => {
  let path = ""
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i]!
    path = typeof segment === "number" ? `${path}[${segment}]` : path === "" ? segment : `${path}.${segment}`
  }
  return path || "body"
}

/** Strict UTF-8, then JSON, then the walk; the problem as a client-facing message. Plain code on the hot path. */
/**
 * Whether a publish body holds more than `max` events, decided by a scan of the text before it is parsed, so that
 * an oversized batch of tiny items is refused without materialising it. Counts the items of a top-level array, or
 * of the array under the top-level key "events"; a string's content is skipped. Malformed JSON is left to the
 * parser (the scan only ever answers "too many" for well-formed prefixes).
 * @category constructors
 */
export const exceedsItems = (text: string, max: number): boolean => {
  let depth = 0
  let target = -1 // depth of the array whose items are counted, once known
  let items = 0
  let sawItem = false
  let topIsObject = false
  let keyStart = -1 // start of the last string read at depth 1 of a top-level object
  let lastKey = ""
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34) {
      // a string: skip to its closing quote
      const start = i + 1
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i)
        if (d === 92) i++
        else if (d === 34) break
      }
      if (topIsObject && depth === 1) keyStart = start
      if (keyStart === start) lastKey = text.slice(start, i)
      if (depth === target && !sawItem) {
        sawItem = true
        items++
        if (items > max) return true
      }
      continue
    }
    if (c === 32 || c === 10 || c === 13 || c === 9) continue
    if (c === 91 || c === 123) {
      // [ or {
      if (depth === target && !sawItem) {
        sawItem = true
        items++
        if (items > max) return true
      }
      depth++
      if (depth === 1) {
        if (c === 91) target = 1
        else topIsObject = true
      } else if (depth === 2 && topIsObject && c === 91 && lastKey === "events" && target < 0) {
        target = 2
      }
      continue
    }
    if (c === 93 || c === 125) {
      depth--
      if (depth < target) return false // the counted array ended
      continue
    }
    if (c === 44 && depth === target) {
      sawItem = false
      continue
    }
    if (c === 58) continue
    // a number, true, false or null
    if (depth === target && !sawItem) {
      sawItem = true
      items++
    }
    if (items > max) return true
  }
  return items > max
}

export const parseJson = (
  body: Buffer,
  options: { readonly maxItems?: number } = {}
):
  | { readonly ok: true; readonly value: unknown; readonly text: string }
  | { readonly ok: false; readonly message: string; readonly tooMany?: true } => {
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    return { ok: false, message: "the request body is not valid UTF-8" }
  }
  if (text.trim() === "") return { ok: false, message: "the request body is empty" }
  if (options.maxItems !== undefined && exceedsItems(text, options.maxItems)) {
    const max = options.maxItems
    return {
      ok: false,
      tooMany: true,
      message: `the batch has more than ${max} events; at most ${max} are allowed per request`
    }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message.slice(0, 200) : "syntax error"
    return { ok: false, message: `the request body is not valid JSON: ${detail}` }
  }
  // U+0000 and lone surrogates can only come from \u escapes: the text is valid UTF-8 (which cannot encode a
  // surrogate) and JSON refuses raw control characters. Without a "\u" in the text only the depth needs a walk.
  const problem = walk(value, 0, text.includes("\\u"))
  return problem === undefined
    ? { ok: true, value, text }
    : { ok: false, message: `the request body is not acceptable JSON: ${pathOf(problem.segments)}: ${problem.what}` }
}
