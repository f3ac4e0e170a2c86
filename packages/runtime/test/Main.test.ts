/**
 * How an app process ends: the teardown's exit codes, the one-line description of a cause, and `runMain` on a
 * real process: a refused variable or a failed start is one FATAL JSON line and exit 1; SIGTERM and SIGINT
 * release everything, log the stop line and exit 0.
 */
import { spawn } from "node:child_process"
import { once } from "node:events"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Data, Effect, Exit } from "effect"
import { Env, Main } from "../src/index.ts"

const SERVICE = fileURLToPath(new URL("./fixtures/service.ts", import.meta.url))

interface Line {
  readonly message: string
  readonly level: string
  readonly annotations: Record<string, unknown>
}

/** Run the fixture to its exit, sending `signal` once it logs "ready"; killed (code null) if it hangs. */
const runService = (env: Record<string, string>, signal?: NodeJS.Signals) =>
  Effect.promise(async () => {
    const child = spawn(process.execPath, [SERVICE], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const lines: Array<Line> = []
    let stdout = ""
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
      let nl = stdout.indexOf("\n")
      while (nl >= 0) {
        const line = JSON.parse(stdout.slice(0, nl)) as Line
        stdout = stdout.slice(nl + 1)
        lines.push(line)
        if (line.message === "ready" && signal !== undefined) child.kill(signal)
        nl = stdout.indexOf("\n")
      }
    })
    const hang = setTimeout(() => child.kill("SIGKILL"), 20_000)
    const [code] = (await once(child, "exit")) as [number | null]
    clearTimeout(hang)
    return { code, lines, stderr }
  })

class StartError extends Data.TaggedError("StartError")<{ readonly message: string }> {}

describe("Main.teardown", () => {
  const code = (exit: Exit.Exit<unknown, unknown>) => {
    let result: number | undefined
    Main.teardown(exit, (c) => {
      result = c
    })
    return result
  }

  it("success 0, interrupt-only 0 (a signal's clean stop), failure and defect 1", () => {
    assert.strictEqual(code(Exit.succeed(1)), 0)
    assert.strictEqual(code(Exit.failCause(Cause.interrupt())), 0)
    assert.strictEqual(code(Exit.fail("bad")), 1)
    assert.strictEqual(code(Exit.die(new Error("boom"))), 1)
  })
})

describe("Main.describeCause", () => {
  it.effect("a refused variable as 'invalid configuration: NAME: problem', an error as its tag and message", () =>
    Effect.gen(function* () {
      const refused = yield* Effect.flip(Config.Port("PORT").parse(ConfigProvider.fromEnv({ env: { PORT: "70000" } })))
      assert.strictEqual(
        Main.describeCause(Cause.fail(refused)),
        "invalid configuration: PORT: Expected a value between 1 and 65535"
      )
      assert.strictEqual(
        Main.describeCause(Cause.fail(new StartError({ message: "connect ECONNREFUSED" }))),
        "StartError: connect ECONNREFUSED"
      )
      assert.strictEqual(Main.describeCause(Cause.die(new TypeError("x is undefined"))), "TypeError: x is undefined")
      assert.include(Main.describeCause(Cause.fail({ odd: true })), "odd")
    })
  )

  it("the description of a refused variable is describeConfigError's", () => {
    const error = new Config.ConfigError(new ConfigProvider.SourceError({ message: "vault unreachable" }))
    assert.strictEqual(
      Main.describeCause(Cause.fail(error)),
      `invalid configuration: ${Env.describeConfigError(error)}`
    )
  })
})

describe("Main.runMain (a real process)", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it.live(`${signal}: finalizers run, the stop line is logged, exit 0`, () =>
      Effect.gen(function* () {
        const { code, lines } = yield* runService({ FIXTURE_N: "3" }, signal)
        assert.strictEqual(code, 0)
        assert.deepStrictEqual(
          lines.map((l) => [l.level, l.message]),
          [
            ["INFO", "ready"],
            ["INFO", "released"],
            ["INFO", "stopped"]
          ]
        )
        assert.strictEqual(lines[0]!.annotations["n"], 3)
      })
    )
  }

  const fatal: ReadonlyArray<readonly [string, Record<string, string>, string]> = [
    [
      "a refused variable",
      { FIXTURE_N: "9" },
      "fatal: invalid configuration: FIXTURE_N: Expected a value between 1 and 5"
    ],
    ["a refused LOG_LEVEL", { LOG_LEVEL: "loud" }, "fatal: invalid configuration: LOG_LEVEL: Expected "],
    ["a failed start", { FIXTURE_FAIL: "1" }, "fatal: StartError: store unreachable"]
  ]
  for (const [what, env, message] of fatal) {
    it.live(`${what}: one FATAL line, nothing else on stdout or stderr, exit 1`, () =>
      Effect.gen(function* () {
        const { code, lines, stderr } = yield* runService(env)
        assert.strictEqual(code, 1)
        assert.strictEqual(lines.length, 1)
        assert.strictEqual(lines[0]!.level, "FATAL")
        assert.isTrue(lines[0]!.message.startsWith(message), lines[0]!.message)
        assert.notMatch(lines[0]!.message, /\n\s+at /)
        assert.strictEqual(stderr, "")
      })
    )
  }

  it.live("LOG_LEVEL applies to the program: at Warn, Info lines are dropped", () =>
    Effect.gen(function* () {
      const { code, lines } = yield* runService({ LOG_LEVEL: "Warn", FIXTURE_FAIL: "1" })
      assert.strictEqual(code, 1)
      assert.deepStrictEqual(
        lines.map((l) => l.level),
        ["FATAL"]
      )
    })
  )
})
