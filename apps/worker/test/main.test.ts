/**
 * The worker process's start-up contract, on the real entry point: `--help` prints every variable and exits 0
 * (the docker rehearsal runs it), and a bad setting stops the process with exit 1 and a JSON log line naming the
 * variable, before any connection is attempted.
 */

import { usePrivateRedis } from "@agg/testing/PrivateRedis"
import { entries, spawnNode } from "@agg/testing/Processes"
import { checkPostgres, describeWithServices, useTestDatabase } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { variables } from "../src/WorkerConfig.ts"

const postgres = await checkPostgres()

const run = (env: Record<string, string>, args: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const proc = yield* spawnNode("worker", entries.worker, { args, env })
    const status = yield* proc.exit.pipe(Effect.timeout("30 seconds"))
    return { status, output: proc.output() }
  }).pipe(Effect.scoped)

it.live("--help lists every variable and exits 0", () =>
  Effect.gen(function* () {
    const { status, output } = yield* run({}, ["--help"])
    assert.deepStrictEqual(status, { code: 0, signal: null })
    for (const [name] of variables) assert.include(output, name)
  })
)

it.live("a bad setting stops the worker at start, naming the variable", () =>
  Effect.gen(function* () {
    const { status, output } = yield* run({
      DATABASE_URL: "postgres://agg@127.0.0.1:1/none",
      REDIS_URL: "redis://127.0.0.1:1",
      WORKER_MAX_DELIVERIES: "zero"
    })
    assert.strictEqual(status.code, 1)
    const line = JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as { level?: string; message?: string }
    assert.strictEqual(line.level, "FATAL")
    assert.include(line.message, "WORKER_MAX_DELIVERIES")
  })
)

it.live("a bad LOG_LEVEL (read by the runtime, not the worker's table) stops the worker too, naming it", () =>
  Effect.gen(function* () {
    const { status, output } = yield* run({
      DATABASE_URL: "postgres://agg@127.0.0.1:1/none",
      REDIS_URL: "redis://127.0.0.1:1",
      LOG_LEVEL: "loud"
    })
    assert.strictEqual(status.code, 1)
    const line = JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as { level?: string; message?: string }
    assert.strictEqual(line.level, "FATAL")
    assert.include(line.message, "LOG_LEVEL")
  })
)

it.live("a missing required variable is named", () =>
  Effect.gen(function* () {
    const { status, output } = yield* run({ DATABASE_URL: "postgres://agg@127.0.0.1:1/none" })
    assert.strictEqual(status.code, 1)
    assert.include(output, "REDIS_URL")
  })
)

describeWithServices("Redis unreachable or refusing at start", [postgres], () => {
  const db = useTestDatabase()
  const passworded = usePrivateRedis({ args: ["--requirepass", "right-password"] })

  it.live("retries, logging each failed attempt with its cause, and stops on SIGTERM with exit 0", () =>
    Effect.gen(function* () {
      const proc = yield* spawnNode("worker", entries.worker, {
        env: { DATABASE_URL: db().url, REDIS_URL: "redis://127.0.0.1:1" }
      })
      const failures = () =>
        proc
          .output()
          .split("\n")
          .filter((l) => l.includes("Redis") && l.includes("ECONNREFUSED"))
      yield* Effect.sync(failures).pipe(
        Effect.repeat({ until: (lines) => lines.length >= 2, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("30 seconds")
      )
      yield* proc.kill("SIGTERM")
      const status = yield* proc.exit.pipe(Effect.timeout("30 seconds"))
      assert.deepStrictEqual(status, { code: 0, signal: null }, proc.output())
    }).pipe(Effect.scoped)
  )

  it.live("a refused password stops it with exit 1 and a message naming REDIS_URL", () =>
    Effect.gen(function* () {
      const { status, output } = yield* run({
        DATABASE_URL: db().url,
        REDIS_URL: `redis://:wrong-password@127.0.0.1:${new URL(passworded().url).port}`
      })
      assert.strictEqual(status.code, 1, output)
      const line = JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as { level?: string; message?: string }
      assert.strictEqual(line.level, "FATAL")
      assert.include(line.message, "REDIS_URL")
      assert.notInclude(output, "wrong-password")
    })
  )
})
