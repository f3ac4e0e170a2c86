/**
 * Bearer-token check against the configured API keys, in constant time: the presented token and every key are
 * compared as SHA-256 digests with `timingSafeEqual` (equal lengths whatever the input), and every key is
 * compared, so neither the position of a match nor the length of a key leaks through timing.
 *
 * Does not decide which routes are protected (routes say so) and never logs a token.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Redacted } from "effect"

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest()

/** `check(authorizationHeader)` → whether it carries one of the keys; always true with no keys. */
export const makeAuth = (keys: ReadonlyArray<Redacted.Redacted<string>>) => {
  const digests = keys.map((k) => digest(Redacted.value(k)))
  return {
    enabled: digests.length > 0,
    check: (authorization: string | undefined): boolean => {
      if (digests.length === 0) return true
      if (authorization === undefined) return false
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
      if (match === null) return false
      const presented = digest(match[1]!)
      let ok = false
      for (const d of digests) ok = timingSafeEqual(presented, d) || ok
      return ok
    }
  }
}
