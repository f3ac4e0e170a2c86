/**
 * `agg-publisher conflicts` and `agg-publisher dead-letters` against the real API process (embedded mode, PGlite
 * in a temporary DATA_DIR, with a publish key and an admin key): the conflicts of a key as JSON lines, an empty
 * dead-letter listing (embedded mode has no stream), refusals with the server's stable codes (exit 1), bad usage
 * (exit 2). Listing, redriving and discarding real dead letters is covered end to end in apps/worker's e2e suite.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "@agg/testing/Ports"
import { entries, spawnNode } from "@agg/testing/Processes"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { runCli } from "./utils/Cli.ts"

const dataDir = mkdtempSync(join(tmpdir(), "agg-inspect-"))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

const withApi = <A, E>(body: (url: string) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const url = `http://127.0.0.1:${port}`
      yield* spawnNode("api", entries.api, {
        env: { PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, API_KEYS: "pub", ADMIN_API_KEYS: "adm" }
      })
      yield* Effect.tryPromise(() => fetch(`${url}/health`).then((r) => (r.ok ? r : Promise.reject(r.status)))).pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
      )
      return yield* body(url)
    })
  )

const publish = (url: string, body: unknown) =>
  Effect.promise(() =>
    fetch(`${url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer pub" },
      body: JSON.stringify(body)
    }).then((r) => r.status)
  )

const cli = (args: ReadonlyArray<string>) => Effect.promise(() => runCli(args))

describe("agg-publisher conflicts / dead-letters", () => {
  it.live(
    "prints conflicts and dead letters as JSON lines; refusals exit 1 with the code, bad usage exits 2",
    () =>
      withApi((url) =>
        Effect.gen(function* () {
          const first = {
            topic: "cli/conflicts",
            event_id: "k 1",
            timestamp: "2026-11-21T10:00:00.000Z",
            source: "cli-test",
            payload: { v: 1 }
          }
          assert.strictEqual(yield* publish(url, first), 200)
          assert.strictEqual(yield* publish(url, { ...first, payload: { v: 2 } }), 200)

          const conflicts = yield* cli(["conflicts", "--url", url, "--api-key", "pub", "--topic", "cli/conflicts"])
          assert.strictEqual(conflicts.code, 0, conflicts.stderr)
          const lines = conflicts.stdout
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l))
          assert.deepStrictEqual(
            lines.map((c) => [c.event_id, c.payload, c.version, c.rejected]),
            [["k 1", { v: 2 }, 1, 1]]
          )
          assert.include(conflicts.stderr, `next_after: ${lines[0].position}`)

          const list = yield* cli(["dead-letters", "list", "--url", url, "--api-key", "pub"])
          assert.deepStrictEqual([list.code, list.stdout, list.stderr.trim()], [0, "", "next_after: 0-0"])

          const forbidden = yield* cli(["dead-letters", "redrive", "--all", "--url", url, "--api-key", "pub"])
          assert.strictEqual(forbidden.code, 1)
          assert.include(forbidden.stderr, "admin_key_required")
          const embedded = yield* cli(["dead-letters", "discard", "1-0", "--url", url, "--api-key", "adm"])
          assert.strictEqual(embedded.code, 1)
          assert.include(embedded.stderr, "no_dead_letter_stream")
          const unauthorized = yield* cli(["conflicts", "--url", url])
          assert.strictEqual(unauthorized.code, 1)
          assert.include(unauthorized.stderr, "unauthorized")

          for (const args of [
            ["dead-letters", "redrive"],
            ["dead-letters", "discard", "1-0", "--all"],
            ["dead-letters", "bogus"],
            ["conflicts", "--limit", "0"]
          ]) {
            const run = yield* cli([...args, "--url", url])
            assert.strictEqual(run.code, 2, `${args.join(" ")}: ${run.stderr}`)
          }
        })
      ),
    120_000
  )
})
