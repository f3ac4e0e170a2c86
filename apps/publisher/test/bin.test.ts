import { afterEach, assert, describe, it } from "@effect/vitest"
import type { Summary } from "../src/Report.ts"
import { runCli } from "./utils/Cli.ts"
import { type FakeApi, type FakeApiOptions, startFakeApi } from "./utils/FakeApi.ts"

const apis: Array<FakeApi> = []
afterEach(async () => {
  for (const api of apis.splice(0)) await api.close()
})
const fakeApi = async (options?: FakeApiOptions) => {
  const api = await startFakeApi(options)
  apis.push(api)
  return api
}

describe("bin flags", () => {
  it("--help exits 0 and lists every flag", async () => {
    const { code, stdout } = await runCli(["--help"])
    assert.strictEqual(code, 0)
    for (const flag of [
      "--url",
      "--events",
      "--duplicates",
      "--batch",
      "--concurrency",
      "--topics",
      "--rate",
      "--api-key",
      "--seed",
      "--verify",
      "--json"
    ])
      assert.include(stdout, flag)
  })

  it("bad values exit 2 with a message naming the flag", async () => {
    const cases = [
      [["--events", "abc"], /--events/],
      [["--events", "0"], /--events must be an integer >= 1/],
      [["--duplicates", "1.5"], /--duplicates must be a ratio between 0 and 1/],
      [["--batch", "-3"], /--batch/],
      [["--rate", "0"], /--rate must be > 0/],
      [["--url", "nope"], /--url must be an http\(s\) URL/],
      [["--bogus"], /--bogus/],
      // `pnpm start -- --events abc` passes the "--" through: still parsed as flags
      [["--", "--events", "abc"], /Invalid value for flag --events/]
    ] as const
    const results = await Promise.all(cases.map(([args]) => runCli(args)))
    results.forEach(({ code, stdout, stderr }, i) => {
      const [args, pattern] = cases[i] as (typeof cases)[number]
      assert.strictEqual(code, 2, `${args.join(" ")} should exit 2`)
      assert.match(stdout + stderr, pattern)
    })
  })
})

describe("bin run", () => {
  it("publishes with duplicates, retries injected faults, verifies exactly and prints JSON", async () => {
    // every 5th request fails: 503 (nothing taken), a commit whose answer is lost, or a reset before reading
    const faults = ["503", "500-after-commit", "reset"] as const
    const api = await fakeApi({
      drainAfterPolls: 3,
      fault: (n) => (n % 5 === 0 ? faults[(n / 5) % 3] : undefined)
    })
    const { code, stdout, stderr } = await runCli([
      "--url",
      api.url,
      "--events",
      "3000",
      "--duplicates",
      "0.3",
      "--batch",
      "50",
      "--concurrency",
      "4",
      "--topics",
      "3",
      "--verify",
      "--json"
    ])
    assert.strictEqual(code, 0, stderr)
    const summary = JSON.parse(stdout) as Summary & { error: string | null }
    assert.strictEqual(summary.error, null)
    assert.strictEqual(summary.sent, 3000)
    assert.strictEqual(summary.accepted, 3000)
    assert.deepStrictEqual(summary.expected, { unique: 2100, duplicates: 900, topics: 3 })
    assert.isAbove(summary.retries, 0)
    assert.isAbove(summary.ambiguousRetries, 0)
    assert.strictEqual(summary.requests, 60)
    assert.strictEqual(api.publishRequests(), 60 + summary.retries)
    assert.deepStrictEqual(summary.verify?.mismatches, [])
    assert.strictEqual(summary.verify?.ok, true)
    assert.match(stderr, /publish: 3000\/3000 events/)
  })

  it("--verify exits 1 and names what is missing when the server loses an event", async () => {
    const api = await fakeApi({ lose: (id) => id.endsWith("-7") })
    const { code, stdout } = await runCli(["--url", api.url, "--events", "200", "--run-id", "lossy", "--verify"])
    assert.strictEqual(code, 1)
    assert.match(stdout, /verify +FAILED/)
    assert.match(stdout, /1 missing \(e\.g\. lossy-7\)/)
  })

  it("stops at a non-retryable answer and exits 1 with the server's code", async () => {
    const api = await fakeApi({ apiKey: "secret" })
    const { code, stderr } = await runCli(["--url", api.url, "--events", "100", "--api-key", "wrong"])
    assert.strictEqual(code, 1)
    assert.match(stderr, /HTTP 401 unauthorized: missing or wrong bearer token/)
    const ok = await runCli(["--url", api.url, "--events", "100", "--api-key", "secret", "--verify"])
    assert.strictEqual(ok.code, 0, ok.stderr)
  })
})
