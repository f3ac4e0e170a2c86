/**
 * The real API app (`apps/api` `Server.makeApp`: routing, auth check, body limits, strict JSON decoding,
 * all-or-nothing validation, error table, metrics, an Effect fiber per request) in direct mode over core's group
 * commit on the in-memory store, so the comparison with the parse-only servers measures our HTTP layer,
 * validation and the core pipeline, not Redis or PostgreSQL. The benchmark repeats one event, so after the first
 * request every commit is a duplicate and the store does not grow. Access log off (ACCESS_LOG=false), as a
 * benchmark run would set it. Needs `--conditions=@agg/source` (workspace sources).
 */

import { listen, makeApp, memoryDirect } from "@agg/api"
import { defaultLimits } from "@agg/schema"
import { Effect } from "effect"

/** Serve on 127.0.0.1, any port; resolves with the port. The server lives until the process exits. */
export const startApiServer = (): Promise<number> =>
  new Promise((resolve) => {
    Effect.runFork(
      Effect.scoped(
        Effect.gen(function* () {
          const app = yield* makeApp({ limits: defaultLimits, apiKeys: [], accessLog: false })
          const address = yield* listen(app, { port: 0, host: "127.0.0.1", shutdownTimeoutMs: 1000 })
          resolve(address.port)
          return yield* Effect.never
        }).pipe(Effect.provide(memoryDirect()))
      )
    )
  })
