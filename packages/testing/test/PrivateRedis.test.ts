import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { createClient } from "redis"
import { describe, expect, it } from "vitest"
import { startPrivateRedis, usePrivateRedis } from "../src/PrivateRedis.ts"

const client = (url: string) =>
  createClient({ url, RESP: 2, socket: { reconnectStrategy: false } }).on("error", () => undefined)

const withClient = async <A>(url: string, f: (c: ReturnType<typeof client>) => Promise<A>): Promise<A> => {
  const c = await client(url).connect()
  try {
    return await f(c)
  } finally {
    c.destroy()
  }
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer()
    probe.once("error", () => resolve(true))
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(false)))
  })

describe("usePrivateRedis", () => {
  const server = usePrivateRedis()

  it("runs with AOF fsynced on every write and no RDB snapshots", async () => {
    expect(server().url).toBe(`redis://127.0.0.1:${server().port}`)
    const config = await withClient(server().url, (c) => c.configGet(["appendonly", "appendfsync", "save", "dir"]))
    expect(config).toEqual({ appendonly: "yes", appendfsync: "always", save: "", dir: server().dir })
  })

  it("keeps every acknowledged write across SHUTDOWN and start", async () => {
    await withClient(server().url, async (c) => {
      for (let i = 0; i < 200; i++) await c.xAdd("s", "*", { i: String(i) })
      await c.incrBy("n", 200)
    })
    expect(await server().shutdown()).toEqual({ code: 0, signal: null })
    expect(server().running()).toBe(false)
    expect(await listening(server().port)).toBe(false)
    await server().start()
    expect(await withClient(server().url, async (c) => [await c.xLen("s"), await c.get("n")])).toEqual([200, "200"])
  })

  it("keeps every write acknowledged before kill -9 (appendfsync always), stream group state included", async () => {
    await withClient(server().url, async (c) => {
      await c.xGroupCreate("s", "g", "0")
      // Acknowledged one by one; the last reply arrives right before the kill, with no time for a lazy fsync.
      for (let i = 200; i < 700; i++) await c.xAdd("s", "*", { i: String(i) })
      await c.xReadGroup("g", "c1", { key: "s", id: ">" }, { COUNT: 300 })
      const pending = await c.xPendingRange("s", "g", "-", "+", 100)
      await c.xAck(
        "s",
        "g",
        pending.map((p) => p.id)
      )
      await c.incrBy("n", 500)
    })
    expect((await server().kill9()).signal).toBe("SIGKILL")
    await server().start()
    const after = await withClient(server().url, async (c) => ({
      length: await c.xLen("s"),
      n: await c.get("n"),
      pending: (await c.xPending("s", "g")).pending
    }))
    expect(after).toEqual({ length: 700, n: "700", pending: 200 })
  })
})

describe("startPrivateRedis", () => {
  it("teardown kills the server, removes its directory and frees the port, also once it was stopped", async () => {
    const running = await startPrivateRedis()
    expect(existsSync(running.dir)).toBe(true)
    expect(await listening(running.port)).toBe(true)
    await running.teardown()
    expect(running.running()).toBe(false)
    expect(existsSync(running.dir)).toBe(false)
    expect(await listening(running.port)).toBe(false)
    await running.teardown() // idempotent

    const stopped = await startPrivateRedis()
    await stopped.kill9()
    await stopped.teardown()
    expect(existsSync(stopped.dir)).toBe(false)
  })

  it("start while running, or kill9 while stopped, is refused", async () => {
    const server = await startPrivateRedis()
    try {
      await expect(server.start()).rejects.toThrow(/already running/)
      await server.kill9()
      await expect(server.kill9()).rejects.toThrow(/not running/)
    } finally {
      await server.teardown()
    }
  })
})
