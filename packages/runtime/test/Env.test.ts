/** The config primitives: defaults, accepted values, and refusals as "NAME: problem" that never echo a secret. */
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import { Env } from "../src/index.ts"

const parse = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  config.parse(ConfigProvider.fromEnv({ env }))
const refusal = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  Effect.map(Effect.flip(parse(config, env)), Env.describeConfigError)

describe("Env", () => {
  it.effect("intBetween: the default when unset, the value when in range, a refusal naming the range", () =>
    Effect.gen(function* () {
      const n = Env.intBetween("N", 1, 5, 3)
      assert.strictEqual(yield* parse(n, {}), 3)
      assert.strictEqual(yield* parse(n, { N: "5" }), 5)
      assert.strictEqual(yield* refusal(n, { N: "6" }), "N: Expected a value between 1 and 5")
      assert.strictEqual(yield* refusal(n, { N: "2.5" }), "N: Expected an integer")
      assert.match(yield* refusal(n, { N: "soon" }), /^N: Expected/)
    })
  )

  it.effect("millis: whole milliseconds as a Duration, the default in ms", () =>
    Effect.gen(function* () {
      const d = Env.millis("D_MS", 0, 1000, 250)
      assert.strictEqual(Duration.toMillis(yield* parse(d, {})), 250)
      assert.strictEqual(Duration.toMillis(yield* parse(d, { D_MS: "40" })), 40)
      assert.strictEqual(yield* refusal(d, { D_MS: "-1" }), "D_MS: Expected a value between 0 and 1000")
    })
  )

  it.effect("flag and nonEmpty: defaults, values, refusals", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* parse(Env.flag("F", true), {}), true)
      assert.strictEqual(yield* parse(Env.flag("F", true), { F: "no" }), false)
      assert.match(yield* refusal(Env.flag("F", true), { F: "maybe" }), /^F: Expected "true"/)
      assert.strictEqual(yield* parse(Env.nonEmpty("H", "0.0.0.0"), {}), "0.0.0.0")
      assert.strictEqual(yield* parse(Env.nonEmpty("H", "0.0.0.0"), { H: "::" }), "::")
      // the environment provider reads an empty variable as unset
      assert.strictEqual(yield* parse(Env.nonEmpty("H", "0.0.0.0"), { H: "" }), "0.0.0.0")
    })
  )

  it.effect("url: an allowed scheme passes redacted; anything else is refused without echoing the value", () =>
    Effect.gen(function* () {
      const db = Env.url("DATABASE_URL", ["postgres:", "postgresql:"])
      const ok = yield* parse(db, { DATABASE_URL: "postgresql://agg:s3cret@db:5432/agg" })
      assert.strictEqual(Redacted.value(ok), "postgresql://agg:s3cret@db:5432/agg")
      assert.notInclude(String(ok), "s3cret")
      for (const bad of ["mysql://agg:s3cret@db/agg", "s3cret", "postgres//agg:s3cret@db"]) {
        const error = yield* Effect.flip(parse(db, { DATABASE_URL: bad }))
        assert.strictEqual(
          Env.describeConfigError(error),
          "DATABASE_URL: must be a URL starting with postgres:// or postgresql://"
        )
        assert.notInclude(String(error), "s3cret")
      }
      assert.match(yield* refusal(db, {}), /^DATABASE_URL: /)
      assert.isTrue(Option.isNone(yield* parse(db.pipe(Config.option), {})))
    })
  )

  it.effect("keyList: comma-separated, trimmed, redacted, empty when unset; a bad list is refused unechoed", () =>
    Effect.gen(function* () {
      const keys = Env.keyList("API_KEYS")
      assert.deepStrictEqual(yield* parse(keys, {}), [])
      const two = yield* parse(keys, { API_KEYS: "one, two" })
      assert.deepStrictEqual(two.map(Redacted.value), ["one", "two"])
      assert.notInclude(String(two[0]), "one")
      for (const bad of ["a,,b", "hunter2 b", " , "]) {
        const error = yield* Effect.flip(parse(keys, { API_KEYS: bad }))
        assert.strictEqual(
          Env.describeConfigError(error),
          "API_KEYS: must be a comma-separated list of non-empty keys without whitespace"
        )
        assert.notInclude(String(error), "hunter2")
      }
    })
  )

  it.effect("provider: an empty variable is unset, except those named, which are read as set to empty", () =>
    Effect.gen(function* () {
      const env = { API_KEYS: "", HOST: "" }
      const provider = Env.provider({ emptyIsValue: ["API_KEYS"], env })
      const error = yield* Effect.flip(Env.keyList("API_KEYS").parse(provider))
      assert.strictEqual(
        Env.describeConfigError(error),
        "API_KEYS: must be a comma-separated list of non-empty keys without whitespace"
      )
      assert.strictEqual(yield* Env.nonEmpty("HOST", "0.0.0.0").parse(provider), "0.0.0.0")
      assert.deepStrictEqual(
        yield* Env.keyList("API_KEYS").parse(Env.provider({ emptyIsValue: ["API_KEYS"], env: {} })),
        []
      )
    })
  )

  it.effect("refine: the value passes when the check has no problem; a problem is reported against the name", () =>
    Effect.gen(function* () {
      const even = Config.Int("E").pipe(Env.refine("E", (n: number) => (n % 2 === 0 ? undefined : "must be even")))
      assert.strictEqual(yield* parse(even, { E: "4" }), 4)
      assert.strictEqual(yield* refusal(even, { E: "3" }), "E: must be even")
      // across variables: reported against the one to set
      const pair = Config.all({ a: Config.option(Config.String("A")), b: Config.option(Config.String("B")) }).pipe(
        Env.refine("B", (c) => (Option.isSome(c.a) && Option.isNone(c.b) ? "is required when A is set" : undefined))
      )
      assert.strictEqual(yield* refusal(pair, { A: "x" }), "B: is required when A is set")
      assert.isTrue(Option.isSome((yield* parse(pair, { A: "x", B: "y" })).b))
    })
  )

  it("describeConfigError gives a provider's own message when the source could not be read", () => {
    const error = new Config.ConfigError(new ConfigProvider.SourceError({ message: "vault unreachable" }))
    assert.strictEqual(Env.describeConfigError(error), "vault unreachable")
  })
})
