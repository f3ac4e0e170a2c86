/**
 * The machine and versions a run measured on, recorded beside every table: figures from different machines are
 * not comparable, ratios within one run are.
 *
 * @remarks Reads /proc/cpuinfo, os, the PostgreSQL server (version, fsync/synchronous_commit) and Redis INFO.
 * Does not change any setting.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as os from "node:os"
import { withPgClient } from "@agg/testing/TestServices"
import { createClient } from "redis"
import type { Servers } from "./Isolation.ts"

export interface Machine {
  readonly cpuModel: string
  readonly cores: number
  readonly ramGiB: number
  readonly kernel: string
  readonly node: string
  readonly postgres: string
  readonly postgresSettings: Readonly<Record<string, string>>
  readonly redis: string
  readonly redisSettings: Readonly<Record<string, string>>
  readonly gitCommit: string
}

const cpuModel = (): string => {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))
    if (match?.[1]) return match[1].trim()
  } catch {
    // not Linux: fall back to what os reports
  }
  return os.cpus()[0]?.model ?? "unknown"
}

const gitCommit = (): string => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain"], { encoding: "utf8" }).trim() !== ""
    return dirty ? `${head}+dirty` : head
  } catch {
    return "unknown"
  }
}

const PG_SETTINGS = ["synchronous_commit", "fsync", "shared_buffers", "max_wal_size", "deadlock_timeout"] as const

export const describeMachine = async (servers: Servers): Promise<Machine> => {
  const pgInfo = await withPgClient(servers.postgresUrl, async (c) => {
    const version = (await c.query<{ server_version: string }>("show server_version")).rows[0]?.server_version ?? "?"
    const settings: Record<string, string> = {}
    for (const name of PG_SETTINGS) {
      settings[name] = (await c.query<Record<string, string>>(`show ${name}`)).rows[0]?.[name] ?? "?"
    }
    return { version: version.split(" ")[0] ?? version, settings }
  })
  const redis = createClient({ url: servers.redisUrl, RESP: 2 }).on("error", () => undefined)
  await redis.connect()
  const info = await redis.info("server")
  const persistence = await redis.info("persistence")
  redis.destroy()
  const field = (text: string, name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(text)?.[1]?.trim() ?? "?"
  return {
    cpuModel: cpuModel(),
    cores: os.cpus().length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: pgInfo.version,
    postgresSettings: pgInfo.settings,
    redis: field(info, "redis_version"),
    redisSettings: { aof_enabled: field(persistence, "aof_enabled") },
    gitCommit: gitCommit()
  }
}
