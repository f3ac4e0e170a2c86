/**
 * Numbers of a JSON text that a JavaScript number cannot hold exactly. `JSON.parse` turns every number into an
 * IEEE 754 double, silently: `1e400` becomes Infinity (stored as null), a 300-digit integer becomes 1e300, 2^64+1
 * loses its last digits, `1.0000000000000000001` becomes 1. Two events that differ only in such a value would then
 * be stored and deduplicated as one. This module finds those numbers in the source text, with their path, so they
 * can be refused instead.
 *
 * The rule: a number is kept when its decimal value equals the value of the double it parses to, as that double is
 * written back (`1.50`, `1E2`, `0.1`, `-0`, `5e-324` and `0.30000000000000004` are kept: the same value comes
 * back). Cheap on the hot path: a text in which no number can be at risk (no run of 16 digits or dots, no
 * exponent of 3 digits) is not scanned at all. Expects text that `JSON.parse` accepted; does not parse values.
 */

/** A number that would not survive the round trip: where it is (object keys and array indexes) and as written. */
export interface InexactNumber {
  readonly segments: ReadonlyArray<string | number>
  readonly literal: string
}

// Any number with 16 or more significant digits, or an exponent of 3 or more digits, has at least one of these;
// every other number is within 15 significant digits and 1e±114, where a double is exact to the digit.
const SUSPECT = /[0-9.]{16}|[eE][+-]?[0-9]{3}/

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y

/** A decimal literal as sign, significant digits and exponent: "-1.50e3" -> "-15e2"; every zero -> "0". */
const canonical = (literal: string): string => {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(literal)
  if (m === null) return literal
  const fraction = m[3] ?? ""
  let digits = `${m[2]}${fraction}`.replace(/^0+/, "")
  if (digits === "") return "0"
  let exponent = BigInt(m[4] ?? "0") - BigInt(fraction.length)
  const trimmed = digits.replace(/0+$/, "")
  exponent += BigInt(digits.length - trimmed.length)
  digits = trimmed
  return `${m[1]}${digits}e${exponent}`
}

/** Whether the number as written has exactly the value of the double it parses to. */
export const isExactNumber = (literal: string): boolean => {
  const n = Number(literal)
  return Number.isFinite(n) && canonical(literal) === canonical(String(n).replace("e+", "e"))
}

/** The end of the string starting at `start` (a quote), just after its closing quote. */
const stringEnd = (text: string, start: number): number => {
  let i = start + 1
  for (;;) {
    const c = text.charCodeAt(i)
    if (c === 34) return i + 1 // "
    i += c === 92 ? 2 : 1 // \ skips the escaped character
  }
}

interface Level {
  readonly array: boolean
  index: number
  key: string
  expectKey: boolean
}

/**
 * The numbers of `text` (valid JSON) that would not come back the same from a JavaScript number, in text order,
 * at most `limit` of them.
 */
export const inexactNumbers = (text: string, limit = Number.POSITIVE_INFINITY): Array<InexactNumber> => {
  const found: Array<InexactNumber> = []
  if (!SUSPECT.test(text)) return found
  const stack: Array<Level> = []
  const at = () => stack.map((l) => (l.array ? l.index : l.key))
  for (let i = 0; i < text.length && found.length < limit; ) {
    const c = text[i]!
    if (c === "{" || c === "[") {
      stack.push({ array: c === "[", index: 0, key: "", expectKey: c === "{" })
      i++
    } else if (c === "}" || c === "]") {
      stack.pop()
      i++
    } else if (c === ",") {
      const top = stack.at(-1)
      if (top?.array) top.index++
      else if (top !== undefined) top.expectKey = true
      i++
    } else if (c === '"') {
      const end = stringEnd(text, i)
      const top = stack.at(-1)
      if (top !== undefined && !top.array && top.expectKey) {
        top.key = JSON.parse(text.slice(i, end)) as string
        top.expectKey = false
      }
      i = end
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      NUMBER.lastIndex = i
      const literal = NUMBER.exec(text)?.[0] ?? c
      if (!isExactNumber(literal)) found.push({ segments: at(), literal })
      i += literal.length
    } else i++
  }
  return found
}
