import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { createClient, createCluster } from "redis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startPrivateRedisCluster, usePrivateRedisCluster } from "../src/PrivateRedisCluster.ts"

const SLOTS = 16384

const plain = (url: string) =>
  createClient({ url, RESP: 2, socket: { reconnectStrategy: false } }).on("error", () => undefined)

const withPlain = async <A>(url: string, f: (c: ReturnType<typeof plain>) => Promise<A>): Promise<A> => {
  const c = await plain(url).connect()
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

/** Command lines of live processes mentioning `127.0.0.1:<port>` (redis-server names its process that way). */
const processesOn = (port: number): ReadonlyArray<string> =>
  execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes(`127.0.0.1:${port}`) && !line.includes("ps -eo"))

/** The error a promise rejects with, or a failure if it resolves. */
const rejection = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error("expected a rejection")
}

describe("usePrivateRedisCluster", () => {
  // A later setting wins over ours: the node timeout becomes 3 s.
  const cluster = usePrivateRedisCluster({ args: ["--cluster-node-timeout", "3000"] })
  const clusterClient = () =>
    createCluster({ rootNodes: cluster().nodes.map(({ url }) => ({ url })), RESP: 2 }).on("error", () => undefined)
  let client: ReturnType<typeof clusterClient>
  beforeAll(async () => {
    client = await clusterClient().connect()
  })
  afterAll(async () => {
    client?.destroy()
  })

  it("has three masters on 127.0.0.1, each serving a share of the 16384 slots, and lists them as root nodes", async () => {
    const { nodes, rootNodes } = cluster()
    expect(nodes).toHaveLength(3)
    expect(new Set(nodes.map(({ port }) => port)).size).toBe(3)
    for (const node of nodes) {
      expect(node.host).toBe("127.0.0.1")
      expect(node.url).toBe(`redis://127.0.0.1:${node.port}`)
      expect(existsSync(node.dir)).toBe(true)
      expect(existsSync(`${node.dir}/nodes.conf`)).toBe(true)
    }
    expect(rootNodes).toBe(nodes.map(({ port }) => `127.0.0.1:${port}`).join(","))
    expect(rootNodes).toMatch(/^127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/)

    for (const node of nodes) {
      const { ranges, config } = await withPlain(node.url, async (c) => ({
        ranges: await c.clusterSlots(),
        config: await c.configGet(["cluster-node-timeout", "appendonly", "appendfsync"])
      }))
      expect(config).toEqual({ "cluster-node-timeout": "3000", appendonly: "yes", appendfsync: "always" })
      const share = new Map<number, number>()
      for (const range of ranges) {
        expect(range.replicas).toEqual([])
        share.set(range.master.port, (share.get(range.master.port) ?? 0) + range.to - range.from + 1)
      }
      expect([...share.keys()].sort()).toEqual(nodes.map(({ port }) => port).sort())
      expect([...share.values()].reduce((a, b) => a + b, 0)).toBe(SLOTS)
      for (const slots of share.values()) expect(slots).toBeGreaterThanOrEqual(5461)
    }
  })

  it("a cluster client writes and reads two tags, and nodeFor names the node that holds each key", async () => {
    for (const tag of ["x:p0", "x:p1"]) {
      const key = `{${tag}}:stream`
      for (let i = 0; i < 5; i++) await client.xAdd(key, "*", { i: String(i) })
      const read = await client.xRange(key, "-", "+")
      expect((read ?? []).map(({ message }) => message.i)).toEqual(["0", "1", "2", "3", "4"])

      const owner = await cluster().nodeFor(key)
      // The hash tag alone decides the slot.
      expect(await cluster().nodeFor(`{${tag}}:other`)).toBe(owner)
      const node = cluster().nodes[owner]
      if (node === undefined) throw new Error(`nodeFor gave ${owner}`)
      expect(await withPlain(node.url, (c) => c.xLen(key))).toBe(5)
      for (const other of cluster().nodes.filter((n) => n !== node))
        expect((await rejection(withPlain(other.url, (c) => c.xLen(key)))).message).toMatch(/^MOVED \d+ 127\.0\.0\.1:/)
    }
  })

  it("nodeFor finds each of the three nodes, each confirmed by a plain write to that node", async () => {
    const found = new Map<number, string>()
    for (let n = 0; found.size < 3 && n < 100; n++) {
      const key = `{spread:${n}}:k`
      const owner = await cluster().nodeFor(key)
      if (!found.has(owner)) found.set(owner, key)
    }
    expect([...found.keys()].sort()).toEqual([0, 1, 2])
    for (const [owner, key] of found)
      expect(await withPlain(cluster().nodes[owner]?.url ?? "", (c) => c.set(key, "here"))).toBe("OK")
  })

  it("MULTI within one tag commits; across two tags it is refused and writes nothing", async () => {
    const a = "{tx:a}:stream"
    // A second tag on the same node but another slot: the server itself refuses (CROSSSLOT), where a tag on
    // another node would only be redirected (MOVED).
    const owner = await cluster().nodeFor(a)
    let b = ""
    for (let n = 0; b === "" && n < 100; n++)
      if ((await cluster().nodeFor(`{tx:b${n}}:stream`)) === owner) b = `{tx:b${n}}:stream`
    expect(await client.clusterKeySlot(b)).not.toBe(await client.clusterKeySlot(a))
    const committed = await client.multi().xAdd(a, "*", { n: "1" }).xAdd(`{tx:a}:other`, "*", { n: "2" }).xLen(a).exec()
    expect(committed).toHaveLength(3)
    expect(committed[2]).toBe(1)

    const refused = await rejection(client.multi().xAdd(a, "*", { n: "3" }).xAdd(b, "*", { n: "4" }).exec())
    expect(refused.message).toMatch(/CROSSSLOT|EXECABORT/)
    expect(await client.xLen(a)).toBe(1)
    expect(await client.xLen(b)).toBe(0)
  })

  it("keeps every acknowledged XADD of the killed node's tag across kill and start", async () => {
    const key = "{crash:p0}:stream"
    const index = await cluster().nodeFor(key)
    const node = cluster().nodes[index]
    if (node === undefined) throw new Error(`nodeFor gave ${index}`)
    await withPlain(node.url, async (c) => {
      for (let i = 0; i < 100; i++) await c.xAdd(key, "*", { i: String(i) })
    })
    const exit = await cluster().kill(index)
    expect(exit.signal).toBe("SIGKILL")
    expect(cluster().running(index)).toBe(false)
    expect(await listening(node.port)).toBe(false)

    // No replica takes over: once the node timeout has passed, a surviving master refuses even its own slots.
    const survivorIndex = (index + 1) % 3
    const survivor = cluster().nodes[survivorIndex]
    if (survivor === undefined) throw new Error(`no node ${survivorIndex}`)
    let own = ""
    for (let n = 0; own === "" && n < 100; n++)
      if ((await cluster().nodeFor(`{alive:${n}}:k`)) === survivorIndex) own = `{alive:${n}}:k`
    const deadline = Date.now() + 20_000
    let answer = ""
    while (!answer.startsWith("CLUSTERDOWN") && Date.now() < deadline)
      answer = await withPlain(survivor.url, (c) => c.get(own)).then(
        () => "",
        (error: Error) => error.message
      )
    expect(answer).toMatch(/^CLUSTERDOWN/)

    await cluster().start(index)
    expect(cluster().running(index)).toBe(true)
    expect(cluster().output(index)).toMatch(/Cluster state changed: ok/)
    expect(await withPlain(node.url, (c) => c.xLen(key))).toBe(100)
    // The cluster client reaches it again too (it reconnects to the restarted node).
    const entries = await client.xRange(key, "-", "+")
    expect((entries ?? []).map(({ message }) => message.i)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)))
    await cluster().waitOk(5_000)
  })

  it("refuses to kill a node that is down or to start one that runs", async () => {
    await expect(cluster().start(2)).rejects.toThrow("PrivateRedisCluster.start: node 2 is already running")
    await cluster().kill(2)
    await expect(cluster().kill(2)).rejects.toThrow("PrivateRedisCluster.kill: node 2 is not running")
    await expect(cluster().waitOk(1_000)).rejects.toThrow("PrivateRedisCluster.waitOk: node 2 is not running")
    await cluster().start(2)
    expect([0, 1, 2].map((i) => cluster().running(i))).toEqual([true, true, true])
  })

  it("names a bad index and the valid ones", async () => {
    expect(() => cluster().running(3)).toThrow("PrivateRedisCluster.running: no node 3 (the nodes are 0 to 2)")
    expect(() => cluster().output(-1)).toThrow("PrivateRedisCluster.output: no node -1 (the nodes are 0 to 2)")
    await expect(cluster().kill(1.5)).rejects.toThrow("PrivateRedisCluster.kill: no node 1.5 (the nodes are 0 to 2)")
    await expect(cluster().start(3)).rejects.toThrow("PrivateRedisCluster.start: no node 3 (the nodes are 0 to 2)")
  })
})

describe("startPrivateRedisCluster", () => {
  it("stop with a node already killed leaves no process, directory or listening port; a second stop is harmless", async () => {
    const cluster = await startPrivateRedisCluster()
    const busPorts = await Promise.all(
      cluster.nodes.map(async ({ url }) =>
        Number((await withPlain(url, (c) => c.configGet("cluster-port")))["cluster-port"])
      )
    )
    const ports = [...cluster.nodes.map(({ port }) => port), ...busPorts]
    for (const port of ports) expect(await listening(port)).toBe(true)
    for (const { port } of cluster.nodes) expect(processesOn(port)).toHaveLength(1)

    await cluster.kill(1)
    await cluster.stop()
    expect([0, 1, 2].map((i) => cluster.running(i))).toEqual([false, false, false])
    for (const { dir, port } of cluster.nodes) {
      expect(existsSync(dir)).toBe(false)
      expect(processesOn(port)).toEqual([])
    }
    for (const port of ports) expect(await listening(port)).toBe(false)
    await cluster.stop()
    await expect(cluster.start(0)).rejects.toThrow("PrivateRedisCluster.start: the cluster is stopped")
  })

  it("a failure to join the nodes tears them all down and reports each node's output", async () => {
    const error = await rejection(startPrivateRedisCluster({ cli: "/nonexistent/redis-cli" }))
    expect(error.message).toMatch(/^could not start a private Redis Cluster: could not run \/nonexistent\/redis-cli/)
    const ports = [...error.message.matchAll(/--- node (\d) \(127\.0\.0\.1:(\d+)\) last output ---/g)]
    expect(ports.map((m) => m[1])).toEqual(["0", "1", "2"])
    expect(error.message).toMatch(/Ready to accept connections/)
    for (const m of ports) expect(await listening(Number(m[2]))).toBe(false)
  })
})
