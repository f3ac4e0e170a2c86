/**
 * The configuration primitives the apps read their environment with, each validated once at start through Effect
 * `Config`: bounded integers, durations in milliseconds, boolean flags, non-empty strings, URLs with allowed
 * schemes, comma-separated key lists, and `refine` for any other rule (a value's own or one across variables).
 * A refused value fails with a `ConfigError` whose issue points at the variable, and `describeConfigError` turns
 * that into one line: "NAME: problem".
 *
 * Deliberately holds no app's variables and reads nothing at import: each app declares its own table from these.
 * Secrets (URLs, keys) stay `Redacted`, and no message about them echoes the refused value.
 */
import { Config, ConfigProvider, Duration, Effect, Redacted, Schema, SchemaIssue } from "effect"

const failAt = (name: string, message: string) =>
  new Config.ConfigError(
    new Schema.SchemaError(new SchemaIssue.Pointer([name], new SchemaIssue.InvalidValue({ message })))
  )

/**
 * A refinement: fail the config with "NAME: problem" when `check` returns a problem, pass the value through when
 * it returns `undefined`. `name` is the variable the problem is reported against (for a rule across variables,
 * the one to fix). The problem text must not quote the value when the value may be a secret.
 *
 * @example
 * Config.String("STREAM_KEY").pipe(Config.withDefault("agg:events"), Env.refine("STREAM_KEY", StreamKeys.validate))
 * @category combinators
 */
export const refine =
  <A>(name: string, check: (value: A) => string | undefined) =>
  (self: Config.Config<A>): Config.Config<A> =>
    self.pipe(
      Config.mapEffect((value) => {
        const problem = check(value)
        return problem === undefined ? Effect.succeed(value) : Effect.fail(failAt(name, problem))
      })
    )

/** An integer in `[minimum, maximum]`, `fallback` when unset. @category constructors */
export const intBetween = (name: string, minimum: number, maximum: number, fallback: number): Config.Config<number> =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })), name).pipe(Config.withDefault(fallback))

/**
 * A duration given as whole milliseconds in `[minimum, maximum]`, `fallback` (in ms) when unset.
 * @category constructors
 */
export const millis = (
  name: string,
  minimum: number,
  maximum: number,
  fallback: number
): Config.Config<Duration.Duration> => intBetween(name, minimum, maximum, fallback).pipe(Config.map(Duration.millis))

/** A boolean flag (true/false, yes/no, on/off, 1/0, y/n), `fallback` when unset. @category constructors */
export const flag = (name: string, fallback: boolean): Config.Config<boolean> =>
  Config.Boolean(name).pipe(Config.withDefault(fallback))

/** A non-empty string, `fallback` when unset. @category constructors */
export const nonEmpty = (name: string, fallback: string): Config.Config<string> =>
  Config.schema(Schema.String.check(Schema.isMinLength(1)), name).pipe(Config.withDefault(fallback))

/**
 * A required URL whose scheme is one of `schemes` (with the colon: `"postgres:"`), kept `Redacted`. The refusal
 * names the schemes, never the value: a URL may hold a password. Pipe through `Config.option` when optional.
 * @category constructors
 */
export const url = (name: string, schemes: ReadonlyArray<string>): Config.Config<Redacted.Redacted<string>> =>
  Config.Redacted(name).pipe(
    refine(name, (value: Redacted.Redacted<string>) => {
      const raw = Redacted.value(value)
      return URL.canParse(raw) && schemes.includes(new URL(raw).protocol)
        ? undefined
        : `must be a URL starting with ${schemes.map((s) => `${s}//`).join(" or ")}`
    })
  )

/**
 * A comma-separated list of keys (spaces around commas are trimmed), each kept `Redacted`; empty when unset.
 * An empty key or one holding whitespace is refused without echoing any key; so is an empty value, when the
 * provider passes it on (see `provider`).
 * @category constructors
 */
export const keyList = (name: string): Config.Config<ReadonlyArray<Redacted.Redacted<string>>> =>
  Config.Redacted(name).pipe(
    Config.map((raw) =>
      Redacted.value(raw)
        .split(",")
        .map((key) => key.trim())
    ),
    refine(name, (keys: ReadonlyArray<string>) =>
      keys.some((key) => key === "" || /\s/.test(key))
        ? "must be a comma-separated list of non-empty keys without whitespace"
        : undefined
    ),
    Config.map((keys) => keys.map((key) => Redacted.make(key))),
    Config.withDefault<ReadonlyArray<Redacted.Redacted<string>>>([])
  )

/**
 * The environment as an app reads it: an empty variable counts as unset (the default provider's rule), except the
 * variables named in `emptyIsValue`, which read as set to "". For a variable whose "unset" means "off" (API_KEYS:
 * no auth), an empty value is more likely a mistake than a choice, so it must reach the check and be refused
 * instead of silently turning the feature off. `env` replaces the process environment (tests).
 *
 * @example
 * Effect.provideService(load, ConfigProvider.ConfigProvider, Env.provider({ emptyIsValue: ["API_KEYS"] }))
 * @category constructors
 */
export const provider = (options: {
  readonly emptyIsValue: ReadonlyArray<string>
  readonly env?: Record<string, string>
}): ConfigProvider.ConfigProvider => {
  const source = options.env === undefined ? {} : { env: options.env }
  const plain = ConfigProvider.fromEnv(source)
  const keeping = ConfigProvider.fromEnv({ ...source, preserveEmptyStrings: true })
  const names = new Set(options.emptyIsValue)
  return ConfigProvider.make((path) => (names.has(path.map(String).join("_")) ? keeping : plain).load(path))
}

/**
 * One line for a refused configuration: "PORT: Expected a value between 1 and 65535", "DATABASE_URL: must be a
 * URL starting with postgres:// or postgresql://" (no stack, no schema dump). A provider that could not be read
 * gives its own message.
 * @category constructors
 */
export const describeConfigError = (error: Config.ConfigError): string => {
  const cause = error.cause
  if (cause._tag === "SourceError") return cause.message
  const issue = cause.issue
  return issue._tag === "Pointer" && issue.path.length > 0
    ? `${issue.path.map(String).join(".")}: ${new Schema.SchemaError(issue.issue).message}`
    : cause.message
}

/** How a variable is shown to a person (a `--help` line). @category models */
export interface Help {
  readonly name: string
  /** The default as a person reads it: "500", "(required)", "(unset: off)". */
  readonly fallback: string
  readonly meaning: string
}
