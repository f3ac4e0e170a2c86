import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { renderPrometheus, serveMetrics } from "../src/MetricsServer.ts"
import { freePort } from "./utils/Processes.ts"

const samples = [
  { name: "agg_worker_batches_total", type: "counter", help: "Batches committed.", value: 3 },
  { name: "agg_worker_last_commit_seconds", type: "gauge", help: "Latest commit.", value: 0.25 }
] as const

describe("MetricsServer", () => {
  it("renders the Prometheus text format", () => {
    assert.strictEqual(
      renderPrometheus(samples),
      "# HELP agg_worker_batches_total Batches committed.\n# TYPE agg_worker_batches_total counter\n" +
        "agg_worker_batches_total 3\n" +
        "# HELP agg_worker_last_commit_seconds Latest commit.\n# TYPE agg_worker_last_commit_seconds gauge\n" +
        "agg_worker_last_commit_seconds 0.25\n"
    )
  })

  it.live("serves fresh figures at /metrics, 200 at /health, 404 elsewhere; closes with its scope", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      let scrapes = 0
      yield* Effect.gen(function* () {
        yield* serveMetrics(
          port,
          Effect.sync(() => [{ ...samples[0], value: ++scrapes }])
        )
        const get = (path: string) =>
          Effect.promise(async () => {
            const response = await fetch(`http://127.0.0.1:${port}${path}`)
            return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
          })
        const first = yield* get("/metrics")
        assert.strictEqual(first.status, 200)
        assert.include(first.type, "text/plain")
        assert.include(first.body, "agg_worker_batches_total 1\n")
        assert.include((yield* get("/metrics")).body, "agg_worker_batches_total 2\n")
        assert.strictEqual((yield* get("/health")).status, 200)
        assert.strictEqual((yield* get("/nope")).status, 404)
      }).pipe(Effect.scoped)
      const after = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/metrics`).then(
          () => "answered",
          () => "refused"
        )
      )
      assert.strictEqual(after, "refused")
    })
  )

  it.live("a port in use fails the start, naming WORKER_METRICS_PORT", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      yield* serveMetrics(port, Effect.succeed([]))
      const error = yield* Effect.flip(serveMetrics(port, Effect.succeed([])))
      assert.include(error.message, `WORKER_METRICS_PORT ${port}`)
    }).pipe(Effect.scoped)
  )
})
