/**
 * `agg-publisher conflicts` and `agg-publisher dead-letters list | redrive | discard`: what went wrong, from the
 * command line. Listings print one JSON line per item on stdout and the cursor of the next page (`next_after`)
 * on stderr; redrive and discard print the server's answer as one JSON line. Redrive and discard need an admin
 * key (`--api-key`). Deliberately not here: flag parsing (bin.ts) and HTTP or retry logic (the client's).
 */
import { createClient } from "@agg/client"
import type { Sink } from "./Report.ts"

/** Where the API is. @category models */
export interface ApiTarget {
  readonly url: string
  readonly apiKey: string | undefined
}

/** Validated settings of `conflicts`. @category models */
export interface ConflictsConfig extends ApiTarget {
  readonly topic: string | undefined
  readonly after: number | undefined
  readonly limit: number | undefined
}

/** Print one page of rejected later versions. @category constructors */
export const runConflicts = async (config: ConflictsConfig, out: Sink, err: Sink): Promise<void> => {
  const client = createClient({ url: config.url, apiKey: config.apiKey })
  const page = await client.conflicts({ topic: config.topic, after: config.after, limit: config.limit })
  for (const conflict of page.conflicts) out.write(`${JSON.stringify(conflict)}\n`)
  err.write(`next_after: ${page.next_after}\n`)
}

/** Validated settings of `dead-letters`. @category models */
export type DeadLettersConfig = ApiTarget &
  (
    | { readonly action: "list"; readonly after: string | undefined; readonly limit: number | undefined }
    | { readonly action: "redrive" | "discard"; readonly ids: ReadonlyArray<string> | "all" }
  )

/** List, redrive or discard dead letters. @category constructors */
export const runDeadLetters = async (config: DeadLettersConfig, out: Sink, err: Sink): Promise<void> => {
  const client = createClient({ url: config.url, apiKey: config.apiKey })
  switch (config.action) {
    case "list": {
      const page = await client.deadLetters.list({ after: config.after, limit: config.limit })
      for (const dead of page.dead_letters) out.write(`${JSON.stringify(dead)}\n`)
      err.write(`next_after: ${page.next_after}\n`)
      return
    }
    case "redrive":
      out.write(`${JSON.stringify(await client.deadLetters.redrive(config.ids))}\n`)
      return
    case "discard":
      out.write(`${JSON.stringify(await client.deadLetters.discard(config.ids))}\n`)
      return
  }
}
