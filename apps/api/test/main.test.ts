/**
 * The entry point as a process: bad configuration stops it at start with a message naming the variable (exit 1);
 * a good one serves, logs JSON (mode, data location, URL, docs URL, a request id per request), and stops
 * gracefully on SIGTERM with exit 0, keeping its data for the next start.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "@agg/testing/Ports"
import { usePrivateRedis } from "@agg/testing/PrivateRedis"
import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  useRedisPrefix,
  useTestDatabase
} from "@agg/testing/TestServices"
import { afterAll, describe, expect, it } from "vitest"
import { event, publish, send } from "./utils/TestApp.ts"

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url))

interface Run {
  readonly child: ChildProcess
  readonly lines: Array<Record<string, unknown>>
  /** Resolves with the first log line satisfying `p`. */
  readonly waitFor: (p: (line: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>
  readonly exit: Promise<number | null>
}

const run = (env: Record<string, string>): Run => {
  const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
  const child = spawn(process.execPath, ["--conditions=@agg/source", MAIN], {
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<{ p: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> =
    []
  let buffer = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8")
    let nl = buffer.indexOf("\n")
    while (nl >= 0) {
      const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>
      buffer = buffer.slice(nl + 1)
      lines.push(line)
      for (const w of waiters.filter((w) => w.p(line))) w.resolve(line)
      nl = buffer.indexOf("\n")
    }
  })
  const exit = once(child, "exit").then(([code]) => code as number | null)
  const waitFor = (p: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = lines.find(p)
      if (found !== undefined) return resolve(found)
      waiters.push({ p, resolve })
      void exit.then((code) =>
        reject(new Error(`exited with ${code} before the expected log line: ${JSON.stringify(lines)}`))
      )
    })
  return { child, lines, waitFor, exit }
}

describe("main: configuration errors", () => {
  it.each([
    [{ PORT: "abc" }, /PORT/],
    [{ PORT: "70000" }, /PORT: .*between 1 and 65535/],
    [{ REDIS_URL: "redis://127.0.0.1:6379" }, /DATABASE_URL: is required when REDIS_URL or REDIS_CLUSTER_NODES is set/],
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL: must be a URL/],
    [{ MAX_BODY_BYTES: "-5" }, /MAX_BODY_BYTES/],
    [{ API_KEYS: "a,,b" }, /API_KEYS/],
    // set but empty is refused like "," (not read as "unset", which would serve without auth)
    [{ API_KEYS: "" }, /API_KEYS: must be a comma-separated list/],
    [{ COMMIT_MAX_EVENTS: "0" }, /COMMIT_MAX_EVENTS/],
    // one commit inserts at most 65,536 events (the store's position encoding)
    [{ COMMIT_MAX_EVENTS: "65537" }, /COMMIT_MAX_EVENTS: .*between 1 and 65536/],
    [{ MAX_EVENTS_PER_REQUEST: "100000" }, /MAX_EVENTS_PER_REQUEST: .*between 1 and 65536/]
  ])("%o stops with exit 1 and a message naming the variable", async (env, message) => {
    const r = run(env)
    expect(await r.exit).toBe(1)
    const fatal = r.lines.find((l) => l.level === "FATAL")
    expect(String(fatal?.message)).toMatch(message)
    expect(String(fatal?.message)).not.toMatch(/\n\s+at /) // no stack trace
  })
})

describe("main: embedded mode", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "agg-api-main-"))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  const start = async () => {
    const port = await freePort()
    const r = run({ PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir })
    const listening = await r.waitFor((l) => l.message === "listening")
    return { r, port, listening, url: `http://127.0.0.1:${port}` }
  }

  it("logs where it listens, serves, and exits 0 on SIGTERM; a restart keeps the data", async () => {
    const first = await start()
    expect(first.listening.annotations).toMatchObject({
      mode: "direct",
      url: `http://127.0.0.1:${first.port}`,
      docs: `http://127.0.0.1:${first.port}/docs`,
      data: `PGlite in ${dataDir}`,
      auth: "off"
    })
    const r = await publish(first.url, [event(1), event(2)], { "x-request-id": "req-main-1" })
    expect(r.json()).toEqual({ accepted: 2, unique: 2, duplicates: 0 })
    const access = await first.r.waitFor((l) => (l.annotations as { request_id?: string })?.request_id === "req-main-1")
    expect(access.annotations).toMatchObject({ method: "POST", path: "/publish", status: 200 })
    first.r.child.kill("SIGTERM")
    expect(await first.r.exit).toBe(0)

    const second = await start()
    expect((await publish(second.url, [event(1), event(3)])).json()).toEqual({ accepted: 2, unique: 1, duplicates: 1 })
    expect((await send(second.url, { path: "/stats" })).json()).toMatchObject({ received: 4, unique_processed: 3 })
    second.r.child.kill("SIGINT")
    expect(await second.r.exit).toBe(0)
  })
})

describe("main: a closed stdout", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "agg-api-epipe-"))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it("keeps serving when the log reader goes away (EPIPE), and still stops cleanly", async () => {
    const port = await freePort()
    const r = run({ PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir })
    await r.waitFor((l) => l.message === "listening")
    r.child.stdout!.destroy() // the reading end of the pipe: the next log write fails with EPIPE
    const url = `http://127.0.0.1:${port}`
    for (let i = 0; i < 5; i++) {
      expect((await publish(url, event(i))).status).toBe(200)
      expect((await send(url, { path: "/health" })).status).toBe(200)
    }
    r.child.kill("SIGTERM")
    expect(await r.exit).toBe(0)
  })
})

const services = [await checkPostgres(), await checkRedis()]
describeWithServices("main: queued mode on Redis and PostgreSQL", services, () => {
  const db = useTestDatabase()
  const redis = useRedisPrefix()

  it("answers 202 once in the stream, reports lag as pending, and exits 0 on SIGTERM", async () => {
    const port = await freePort()
    const r = run({
      PORT: String(port),
      HOST: "127.0.0.1",
      REDIS_URL: redis.url,
      DATABASE_URL: db().url,
      STREAM_KEY: redis.prefix
    })
    const listening = await r.waitFor((l) => l.message === "listening")
    const data = String((listening.annotations as { data: string }).data)
    expect((listening.annotations as { mode: string }).mode).toBe("queued")
    expect(data).toContain(`Redis stream ${redis.prefix}`)
    expect(data).not.toContain("postgres@") // no credentials in logs
    const url = `http://127.0.0.1:${port}`
    const answer = await publish(url, [event(1), event(1), event(2)])
    expect(answer.status).toBe(202)
    expect(answer.json()).toEqual({ accepted: 3 })
    expect((await send(url, { path: "/stats" })).json()).toMatchObject({ received: 3, pending: 3, unique_processed: 0 })
    const health = await send(url, { path: "/health" })
    expect(health.json()).toEqual({
      status: "ok",
      mode: "queued",
      checks: { store: { status: "up" }, stream: { status: "up" } },
      backlog: { size: expect.any(Number), max: 1_000_000, accepting: true }
    })
    r.child.kill("SIGTERM")
    expect(await r.exit).toBe(0)
  })
})

describeWithServices("main: Redis unreachable or refusing at start (queued mode)", [services[0]!], () => {
  const db = useTestDatabase()
  const passworded = usePrivateRedis({ args: ["--requirepass", "right-password"] })

  it("serves with /health 503 naming the stream, logs each failed attempt with its cause, stops on SIGTERM", async () => {
    const port = await freePort()
    const r = run({ PORT: String(port), HOST: "127.0.0.1", REDIS_URL: "redis://127.0.0.1:1", DATABASE_URL: db().url })
    await r.waitFor((l) => l.message === "listening")
    const url = `http://127.0.0.1:${port}`
    const health = await send(url, { path: "/health" })
    expect(health.status).toBe(503)
    expect(health.json()).toMatchObject({ status: "unavailable", checks: { stream: { status: "down" } } })
    expect((await publish(url, event(1))).status).toBe(503)
    // two failed attempts, each with its cause: it keeps retrying
    let failures = 0
    await r.waitFor(
      (l) => String(l.message).includes("Redis") && JSON.stringify(l).includes("ECONNREFUSED") && ++failures >= 2
    )
    r.child.kill("SIGTERM")
    expect(await r.exit).toBe(0)
  })

  it("a refused password stops it with exit 1 and a message naming REDIS_URL", async () => {
    const port = await freePort()
    const r = run({
      PORT: String(port),
      HOST: "127.0.0.1",
      REDIS_URL: `redis://:wrong-password@127.0.0.1:${new URL(passworded().url).port}`,
      DATABASE_URL: db().url
    })
    expect(await r.exit).toBe(1)
    const fatal = r.lines.find((l) => l.level === "FATAL")
    expect(String(fatal?.message)).toMatch(/REDIS_URL/)
    expect(String(fatal?.message)).not.toContain("wrong-password")
  })

  it("SIGTERM during a connection attempt that never answers stops it too", async () => {
    // a listener that accepts and never speaks: the attempt waits for the server's reply
    let connected: () => void = () => undefined
    const reached = new Promise<void>((resolve) => {
      connected = resolve
    })
    const server = net.createServer((socket) => {
      socket.on("error", () => undefined)
      connected()
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const port = await freePort()
      const silent = (server.address() as net.AddressInfo).port
      const r = run({
        PORT: String(port),
        HOST: "127.0.0.1",
        REDIS_URL: `redis://127.0.0.1:${silent}`,
        DATABASE_URL: db().url
      })
      await reached
      r.child.kill("SIGTERM")
      expect(await r.exit).toBe(0)
    } finally {
      server.close()
    }
  })
})
