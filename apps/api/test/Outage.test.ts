/**
 * Outages of real dependencies, each behind a TCP proxy the test cuts: Redis in queued mode, PostgreSQL in direct
 * mode. Publishing answers 503 with Retry-After instead of hanging or leaking internals, /health turns 503 naming
 * the dependency, and once it is reachable again publishing works without a restart.
 */
import { connect, createServer, type Socket } from "node:net"
import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  useRedisPrefix,
  useTestDatabase
} from "@agg/testing/TestServices"
import { Redacted } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import { event, publish, type RunningApp, send, startApp, testConfig } from "./utils/TestApp.ts"

/** A TCP proxy to `target`; `cut()` drops every connection and refuses new ones until `restore()`. */
const makeProxy = async (target: URL) => {
  const sockets = new Set<Socket>()
  let up = true
  const server = createServer((client) => {
    if (!up) {
      client.destroy()
      return
    }
    const upstream = connect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on("close", () => sockets.delete(s))
      s.on("error", () => undefined)
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: () => {
      up = false
      for (const s of sockets) s.destroy()
    },
    restore: () => {
      up = true
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describeWithServices("queued mode: Redis outage", [await checkPostgres(), await checkRedis()], () => {
  const db = useTestDatabase()
  const redis = useRedisPrefix()
  let proxy: Awaited<ReturnType<typeof makeProxy>>
  let app: RunningApp
  beforeAll(async () => {
    const target = new URL(redis.url)
    if (target.port === "") target.port = "6379"
    proxy = await makeProxy(target)
    app = await startApp(
      Layers.services(
        testConfig({
          _tag: "Queued",
          redisUrl: Redacted.make(proxy.url),
          streamKey: redis.prefix,
          databaseUrl: Redacted.make(db().url)
        })
      )
    )
  })
  afterAll(async () => {
    await app?.close()
    await proxy?.close()
  })

  it("503 + Retry-After while Redis is unreachable, 202 again once it is back", async () => {
    expect((await publish(app.url, event(1))).status).toBe(202)
    proxy.cut()
    const down = await publish(app.url, event(2))
    expect(down.status).toBe(503)
    expect(down.headers["retry-after"]).toBe("1")
    expect(down.json()).toEqual({ error: { code: "unavailable", message: expect.any(String) } })
    const health = await send(app.url, { path: "/health" })
    expect(health.status).toBe(503)
    expect(health.json().checks.stream.status).toBe("down")
    expect(health.json().checks.store.status).toBe("up")

    proxy.restore()
    // node-redis reconnects by itself; wait for it through the API (bounded), not with a fixed sleep.
    let status = 0
    for (let attempt = 0; attempt < 100 && status !== 202; attempt++) {
      status = (await publish(app.url, event(2))).status
      if (status !== 202) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(status).toBe(202)
    expect((await send(app.url, { path: "/stats" })).json().received).toBe(2)
  }, 60_000)
})

describeWithServices("direct mode on PostgreSQL: database outage", [await checkPostgres()], () => {
  const db = useTestDatabase()
  let proxy: Awaited<ReturnType<typeof makeProxy>>
  let app: RunningApp
  beforeAll(async () => {
    const target = new URL(db().url)
    if (target.port === "") target.port = "5432"
    proxy = await makeProxy(target)
    const viaProxy = new URL(db().url)
    viaProxy.hostname = "127.0.0.1"
    viaProxy.port = new URL(proxy.url).port
    app = await startApp(
      Layers.services(
        testConfig({ _tag: "Direct", storage: { _tag: "Postgres", url: Redacted.make(viaProxy.toString()) } })
      )
    )
  })
  afterAll(async () => {
    await app?.close()
    await proxy?.close()
  })

  it("503 + Retry-After while PostgreSQL is unreachable, nothing half-committed, 200 once it is back", async () => {
    expect((await publish(app.url, [event(1), event(2)])).status).toBe(200)
    proxy.cut()
    const down = await publish(app.url, [event(3), event(4)])
    expect(down.status).toBe(503)
    expect(down.headers["retry-after"]).toBe("1")
    expect(down.json().error.code).toBe("unavailable")
    expect((await send(app.url, { path: "/health" })).status).toBe(503)

    proxy.restore()
    let answer = await publish(app.url, [event(3), event(4)])
    for (let attempt = 0; attempt < 100 && answer.status !== 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      answer = await publish(app.url, [event(3), event(4)])
    }
    expect(answer.json()).toEqual({ accepted: 2, unique: 2, duplicates: 0 })
    expect((await send(app.url, { path: "/stats" })).json()).toMatchObject({ received: 4, unique_processed: 4 })
  }, 60_000)
})
