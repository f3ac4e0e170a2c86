/** Config: defaults, mode derivation, and refusals naming the variable (ConfigProvider, no process env). */
import { ConfigProvider, Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import * as ApiConfig from "../src/Config.ts"
import { describeData } from "../src/Layers.ts"

const load = (env: Record<string, string>) =>
  Effect.runPromise(ApiConfig.load.pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))))
const refusal = (env: Record<string, string>) =>
  Effect.runPromise(
    Effect.flip(ApiConfig.load).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))
  ).then((e) => e.message)

describe("ApiConfig", () => {
  it("defaults: embedded PGlite in ./.data on 0.0.0.0:8080, default limits, no auth", async () => {
    const c = await load({})
    expect(c).toMatchObject({
      port: 8080,
      host: "0.0.0.0",
      mode: { _tag: "Direct", storage: { _tag: "Pglite", dataDir: "./.data" } },
      apiKeys: [],
      limits: { maxBodyBytes: 10 * 1024 * 1024, maxEventsPerRequest: 10_000, maxPayloadBytes: 64 * 1024 },
      commit: { maxEvents: 2000, maxWaitMs: 0 },
      accessLog: true
    })
  })

  it("DATABASE_URL alone: direct mode on PostgreSQL; with REDIS_URL: queued mode on STREAM_KEY", async () => {
    const direct = await load({ DATABASE_URL: "postgres://u:secret@db:5432/agg" })
    expect(direct.mode).toMatchObject({ _tag: "Direct", storage: { _tag: "Postgres" } })
    expect(describeData(direct.mode)).toBe("PostgreSQL at db:5432/agg")
    const queued = await load({
      DATABASE_URL: "postgres://u:secret@db/agg",
      REDIS_URL: "redis://:pw@cache:6379",
      STREAM_KEY: "x:y"
    })
    expect(queued.mode).toMatchObject({ _tag: "Queued", streamKey: "x:y" })
    expect(describeData(queued.mode)).toBe("Redis stream x:y at cache:6379 -> PostgreSQL at db/agg")
    expect(String(queued.mode._tag === "Queued" && queued.mode.redisUrl)).not.toContain("pw")
    expect(queued.mode).not.toHaveProperty("partitions")
    const cluster = await load({
      DATABASE_URL: "postgres://u:secret@db/agg",
      REDIS_CLUSTER_NODES: "r1:7000,r2:7000",
      PARTITIONS: "8"
    })
    expect(cluster.mode).toMatchObject({ _tag: "Queued", clusterNodes: ["r1:7000", "r2:7000"], partitions: 8 })
    expect(describeData(cluster.mode)).toBe(
      "Redis stream agg:events at Redis Cluster r1:7000,r2:7000 -> PostgreSQL at db/agg"
    )
  })

  it("API_KEYS: comma-separated, trimmed, redacted", async () => {
    const c = await load({ API_KEYS: "one, two" })
    expect(c.apiKeys.map(Redacted.value)).toEqual(["one", "two"])
    expect(String(c.apiKeys[0])).not.toContain("one")
  })

  it.each([
    [{ PORT: "0" }, "PORT"],
    [{ PORT: "8080x" }, "PORT"],
    [{ MAX_EVENTS_PER_REQUEST: "0" }, "MAX_EVENTS_PER_REQUEST"],
    [{ MAX_PAYLOAD_BYTES: "1.5" }, "MAX_PAYLOAD_BYTES"],
    [{ COMMIT_MAX_WAIT_MS: "-1" }, "COMMIT_MAX_WAIT_MS"],
    [{ ACCESS_LOG: "maybe" }, "ACCESS_LOG"],
    [{ REDIS_URL: "http://x" }, "REDIS_URL"],
    [{ REDIS_URL: "redis://x" }, "DATABASE_URL"],
    [{ REDIS_CLUSTER_NODES: "r1:7000" }, "DATABASE_URL"],
    [{ REDIS_CLUSTER_NODES: "r1" }, "REDIS_CLUSTER_NODES"],
    [{ PARTITIONS: "0" }, "PARTITIONS"],
    [{ PARTITIONS: "1025" }, "PARTITIONS"],
    [{ API_KEYS: "a b" }, "API_KEYS"],
    [{ STREAM_KEY: "has space" }, "STREAM_KEY"]
  ])("%o is refused, naming %s", async (env, name) => {
    expect(await refusal(env)).toContain(name)
  })
})
