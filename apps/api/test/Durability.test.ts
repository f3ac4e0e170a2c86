// The start-up check of Redis's persistence (Layers.requireDurableRedis) on private Redis servers: AOF fsynced
// always passes silently; AOF off warns by default and refuses with REQUIRE_AOF=true; a server that refuses
// CONFIG (as managed services do) only warns that it cannot check, also with REQUIRE_AOF=true.
import { RedisDurability } from "@agg/storage"
import { usePrivateRedis } from "@agg/testing/PrivateRedis"
import { checkRedis, describeWithServices } from "@agg/testing/TestServices"
import { assert, it } from "@effect/vitest"
import { Effect, Logger, Redacted } from "effect"
import { requireDurableRedis } from "../src/Layers.ts"

const redis = await checkRedis()

/** Run the check with require = `require`, collecting the messages it logs. */
const run = (url: string, require: boolean) =>
  Effect.gen(function* () {
    const logged: Array<string> = []
    const capture = Logger.make(({ message }) => {
      logged.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const exit = yield* requireDurableRedis(Redacted.make(url), require).pipe(
      Effect.provide(Logger.layer([capture])),
      Effect.exit
    )
    return { exit, logged }
  })

describeWithServices("Redis persistence check", [redis], () => {
  const durable = usePrivateRedis()
  const volatile = usePrivateRedis({ args: ["--appendonly", "no", "--appendfsync", "everysec"] })
  const locked = usePrivateRedis({ args: ["--rename-command", "CONFIG", ""] })

  it.live("AOF with appendfsync always: passes, nothing logged", () =>
    Effect.gen(function* () {
      const { exit, logged } = yield* run(durable().url, true)
      assert.strictEqual(exit._tag, "Success")
      assert.deepStrictEqual(logged, [])
      assert.deepStrictEqual(yield* RedisDurability.check(durable().url), {
        _tag: "Checked",
        appendonly: "yes",
        appendfsync: "always",
        durable: true
      })
    })
  )

  it.live("without AOF: a warning naming the settings by default", () =>
    Effect.gen(function* () {
      const { exit, logged } = yield* run(volatile().url, false)
      assert.strictEqual(exit._tag, "Success")
      assert.strictEqual(logged.length, 1)
      assert.match(logged[0]!, /appendonly no, appendfsync everysec/)
      assert.match(logged[0]!, /REQUIRE_AOF=true refuses/)
    })
  )

  it.live("without AOF and REQUIRE_AOF=true: refused, naming the variable and the fix", () =>
    Effect.gen(function* () {
      const { exit } = yield* run(volatile().url, true)
      assert.strictEqual(exit._tag, "Failure")
      const error = exit._tag === "Failure" ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      assert.isDefined(error)
      const message = error?._tag === "Fail" ? error.error.message : ""
      assert.match(message, /REQUIRE_AOF=true but Redis runs with appendonly no/)
      assert.match(message, /--appendonly yes --appendfsync always/)
    })
  )

  it.live("CONFIG refused (managed Redis): a warning that it cannot check, even with REQUIRE_AOF=true", () =>
    Effect.gen(function* () {
      const check = yield* RedisDurability.check(locked().url)
      assert.strictEqual(check._tag, "Unknown")
      for (const require of [false, true]) {
        const { exit, logged } = yield* run(locked().url, require)
        assert.strictEqual(exit._tag, "Success")
        assert.strictEqual(logged.length, 1)
        assert.match(logged[0]!, /cannot check Redis persistence/)
      }
    })
  )
})
