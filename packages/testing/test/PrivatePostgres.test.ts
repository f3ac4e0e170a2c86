import { existsSync } from "node:fs"
import { createServer } from "node:net"
import pg from "pg"
import { describe, expect, it } from "vitest"
import { postgresBinaries, startPrivatePostgres, usePrivatePostgres } from "../src/PrivatePostgres.ts"

const withClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

const count = (url: string) =>
  withClient(url, async (c) => Number((await c.query<{ n: string }>("select count(*)::text as n from t")).rows[0]?.n))

/** Whether something accepts TCP connections on 127.0.0.1:port. */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer()
    probe.once("error", () => resolve(true))
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(false)))
  })

describe("usePrivatePostgres", () => {
  const server = usePrivatePostgres()

  it("runs the highest installed version on its own port, with trust auth on 127.0.0.1", async () => {
    const { url, port, version } = server()
    expect(version).toBe(postgresBinaries().version)
    expect(url).toBe(`postgres://postgres@127.0.0.1:${port}/postgres`)
    const row = await withClient(url, async (c) => (await c.query("show server_version_num")).rows[0])
    expect(Math.floor(Number(row.server_version_num) / 10_000)).toBe(Number(version))
    expect(await withClient(url, async (c) => (await c.query("show listen_addresses")).rows[0].listen_addresses)).toBe(
      "127.0.0.1"
    )
    expect(await withClient(url, async (c) => (await c.query("show fsync")).rows[0].fsync)).toBe("on")
  })

  it("keeps committed rows across a fast restart", async () => {
    const { url } = server()
    await withClient(url, (c) =>
      c.query("create table t (i int primary key); insert into t select generate_series(1, 1000)")
    )
    await server().restart({ mode: "fast" })
    expect(server().running()).toBe(true)
    expect(await count(url)).toBe(1000)
  })

  it("recovers committed rows from the WAL after a crash (immediate stop)", async () => {
    const { url } = server()
    // Commits one by one, no checkpoint in between: only the WAL holds them when the server dies.
    await withClient(url, async (c) => {
      for (let i = 1001; i <= 1200; i++) await c.query("insert into t values ($1)", [i])
    })
    await server().crash()
    expect(server().running()).toBe(false)
    await expect(count(url)).rejects.toThrow(/ECONNREFUSED/)
    await server().start()
    expect(server().log(200)).toMatch(/not properly shut down; automatic recovery in progress/)
    expect(await count(url)).toBe(1200)
  })

  it("stop refuses connections until start", async () => {
    await server().stop()
    expect(await listening(server().port)).toBe(false)
    await server().start()
    expect(await count(server().url)).toBe(1200)
  })
})

describe("startPrivatePostgres", () => {
  it("teardown stops the server, removes its directory and frees the port, also after a crash", async () => {
    const running = await startPrivatePostgres()
    expect(existsSync(running.dir)).toBe(true)
    expect(await listening(running.port)).toBe(true)
    await running.teardown()
    expect(existsSync(running.dir)).toBe(false)
    expect(await listening(running.port)).toBe(false)
    await running.teardown() // idempotent

    const crashed = await startPrivatePostgres()
    await crashed.crash()
    await crashed.teardown()
    expect(existsSync(crashed.dir)).toBe(false)
  })

  it("two servers run side by side on different ports and directories", async () => {
    const [a, b] = await Promise.all([startPrivatePostgres(), startPrivatePostgres()])
    try {
      expect(a.port).not.toBe(b.port)
      expect(a.dir).not.toBe(b.dir)
      await withClient(a.url, (c) => c.query("create table only_in_a (i int)"))
      const inB = await withClient(
        b.url,
        async (c) => (await c.query("select to_regclass('only_in_a') as t")).rows[0].t
      )
      expect(inB).toBeNull()
    } finally {
      await Promise.all([a.teardown(), b.teardown()])
    }
  })
})
