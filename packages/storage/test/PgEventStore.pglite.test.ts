// The EventStore contract on PGlite (in memory and file-backed), plus what only a file-backed store can show:
// events, counters and dedup state survive a close and reopen.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EventStore } from "@agg/core"
import { eventStoreSuite, makeEvent } from "@agg/testing/EventStoreSuite"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { afterAll } from "vitest"
import * as PgEventStore from "../src/postgres/PgEventStore.ts"

const dirs: Array<string> = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "agg-pglite-"))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

eventStoreSuite("PGlite in memory", PgEventStore.layerPglite())
eventStoreSuite("PGlite in a data directory", PgEventStore.layerPglite({ dataDir: tempDir() }))

it.live("a file-backed store keeps events, counters and dedup state across a reopen", () =>
  Effect.gen(function* () {
    const dataDir = join(tempDir(), "nested", "data") // created with its parents
    const withStore = <A, E>(f: (store: EventStore.EventStore["Service"]) => Effect.Effect<A, E>) =>
      Effect.gen(function* () {
        return yield* f(yield* EventStore.EventStore)
      }).pipe(Effect.provide(PgEventStore.layerPglite({ dataDir })))
    const first = yield* withStore((s) =>
      s.commit([
        { event: makeEvent("t", "1") },
        { event: makeEvent("t", "2") },
        { deliveryId: "9-0", event: makeEvent("u", "1") }
      ])
    )
    assert.deepStrictEqual(
      first.map((o) => o._tag),
      ["New", "New", "New"]
    )
    const [again, page, stats] = yield* withStore((s) =>
      Effect.all([
        s.commit([
          { event: makeEvent("t", "1") },
          { event: makeEvent("t", "2", { n: 2 }) },
          { deliveryId: "9-0", event: makeEvent("u", "1") },
          { event: makeEvent("t", "3") }
        ]),
        s.read({ topic: "t", after: 0, limit: 10 }),
        s.stats
      ])
    )
    assert.deepStrictEqual(again, [
      { _tag: "Duplicate" },
      { _tag: "Conflict" },
      { _tag: "Redelivered" },
      { _tag: "New", offset: 3 }
    ])
    assert.deepStrictEqual(
      page.events.map((e) => [e.event_id, e.offset, typeof e.offset]),
      [
        ["1", 1, "number"],
        ["2", 2, "number"],
        ["3", 3, "number"]
      ]
    )
    assert.deepStrictEqual(
      { unique: stats.unique, duplicates: stats.duplicates, conflicts: stats.conflicts },
      { unique: 4, duplicates: 2, conflicts: 1 }
    )
  })
)
