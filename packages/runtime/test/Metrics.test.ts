/**
 * The one metrics stack: the app's registry, the process metrics and scrape-time samples rendered together in
 * the text format, and the standalone exporter over real HTTP (port 0), closed with its scope.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Counter } from "prom-client"
import { Metrics } from "../src/index.ts"

const samples: ReadonlyArray<Metrics.Sample> = [
  { name: "agg_worker_batches_total", type: "counter", help: "Batches committed.", value: 3 },
  { name: "agg_worker_last_commit_seconds", type: "gauge", help: "Latest commit.", value: 0.25 }
]

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

describe("Metrics.render", () => {
  it.effect("renders samples in the Prometheus text format, with the app's instruments and the process metrics", () =>
    Effect.gen(function* () {
      const registry = yield* Metrics.Metrics
      new Counter({ name: "agg_test_requests_total", help: "Requests.", registers: [registry] }).inc(2)
      const text = yield* Metrics.render(samples)
      assert.include(
        text,
        "# HELP agg_worker_batches_total Batches committed.\n# TYPE agg_worker_batches_total counter\n" +
          "agg_worker_batches_total 3\n"
      )
      assert.include(
        text,
        "# HELP agg_worker_last_commit_seconds Latest commit.\n# TYPE agg_worker_last_commit_seconds gauge\n" +
          "agg_worker_last_commit_seconds 0.25\n"
      )
      assert.match(text, /^agg_test_requests_total 2$/m)
      const rss = /^process_resident_memory_bytes (\d+)$/m.exec(text)
      assert.isAbove(Number(rss?.[1]), 1024 * 1024)
      assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m)
      assert.strictEqual(Metrics.contentType, "text/plain; version=0.0.4; charset=utf-8")
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.effect("each registry is the app's own; the process metrics appear once in each rendering", () =>
    Effect.gen(function* () {
      const first = yield* Metrics.render().pipe(Effect.provide(Metrics.layer))
      const second = yield* Metrics.render().pipe(Effect.provide(Metrics.layer))
      for (const text of [first, second]) {
        assert.strictEqual(text.match(/^# TYPE process_resident_memory_bytes gauge$/gm)?.length, 1)
        assert.notInclude(text, "agg_test_requests_total")
      }
    })
  )

  it.effect("a sample named like an instrument is a defect, not a silent duplicate", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Metrics.render([{ name: "process_resident_memory_bytes", type: "gauge", help: "again", value: 1 }])
      )
      assert.isTrue(Exit.hasDies(exit))
    }).pipe(Effect.provide(Metrics.layer))
  )
})

describe("Metrics.serve", () => {
  it.live("serves fresh figures at /metrics, 200 at /health, 404 elsewhere; closes with its scope", () =>
    Effect.gen(function* () {
      let scrapes = 0
      const port = yield* Effect.gen(function* () {
        const port = yield* Metrics.serve({
          port: 0,
          host: "127.0.0.1",
          name: "TEST_METRICS_PORT",
          samples: Effect.sync(() => [{ ...samples[0]!, value: ++scrapes }])
        })
        assert.isAbove(port, 0)
        const url = `http://127.0.0.1:${port}`
        const first = yield* get(`${url}/metrics`)
        assert.strictEqual(first.status, 200)
        assert.strictEqual(first.type, Metrics.contentType)
        assert.include(first.body, "agg_worker_batches_total 1\n")
        assert.include(first.body, "process_resident_memory_bytes ")
        assert.include((yield* get(`${url}/metrics?x=1`)).body, "agg_worker_batches_total 2\n")
        assert.deepStrictEqual(yield* get(`${url}/health`), {
          status: 200,
          type: "application/json",
          body: '{"status":"ok"}'
        })
        assert.strictEqual((yield* get(`${url}/nope`)).status, 404)
        return port
      }).pipe(Effect.scoped)
      const after = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/metrics`).then(
          () => "answered",
          () => "refused"
        )
      )
      assert.strictEqual(after, "refused")
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.live("a port in use fails the start, naming what set it", () =>
    Effect.gen(function* () {
      const port = yield* Metrics.serve({ port: 0, host: "127.0.0.1", name: "WORKER_METRICS_PORT" })
      const error = yield* Effect.flip(Metrics.serve({ port, host: "127.0.0.1", name: "WORKER_METRICS_PORT" }))
      assert.strictEqual(error._tag, "ExporterError")
      assert.include(error.message, `WORKER_METRICS_PORT ${port}: `)
      assert.include(error.message, "EADDRINUSE")
    }).pipe(Effect.scoped, Effect.provide(Metrics.layer))
  )
})
