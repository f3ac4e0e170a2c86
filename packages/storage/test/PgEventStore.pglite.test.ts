// The EventStore contract on PGlite (in memory and file-backed), plus what only a file-backed store can show:
// events, counters and dedup state survive a close and reopen.
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EventStore } from "@agg/core"
import { eventStoreSuite, makeEvent } from "@agg/testing/EventStoreSuite"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { sql } from "kysely"
import { afterAll } from "vitest"
import { layerPglite, makePgliteKysely } from "../src/pglite.ts"
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

eventStoreSuite("PGlite in memory", layerPglite())
eventStoreSuite("PGlite in a data directory", layerPglite({ dataDir: tempDir() }))

it.live("a file-backed store keeps events, counters and dedup state across a reopen", () =>
  Effect.gen(function* () {
    const dataDir = join(tempDir(), "nested", "data") // created with its parents
    const withStore = <A, E>(f: (store: EventStore.EventStore["Service"]) => Effect.Effect<A, E>) =>
      Effect.gen(function* () {
        return yield* f(yield* EventStore.EventStore)
      }).pipe(Effect.provide(layerPglite({ dataDir })))
    const first = yield* withStore((s) =>
      s.commit([
        { event: makeEvent("t", "1") },
        { event: makeEvent("t", "2") },
        { deliveryId: { stream: "s", id: "9-0" }, event: makeEvent("u", "1") }
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
          { deliveryId: { stream: "s", id: "9-0" }, event: makeEvent("u", "1") },
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

it.live("a setup fault (a dropped table) fails commit and lookup retryably, a refused value does not", () =>
  Effect.gen(function* () {
    const db = makePgliteKysely()
    yield* Effect.addFinalizer(() => Effect.promise(() => db.destroy()))
    const store = yield* PgEventStore.make(db)
    // A NUL is valid JSON but jsonb refuses it (22P05): the one entry carrying it may be dead-lettered.
    const refused = yield* Effect.flip(
      store.commit([{ deliveryId: { stream: "s", id: "1-0" }, event: makeEvent("t", "1", { s: "a\u0000" }) }])
    )
    assert.isFalse(refused.retryable, refused.message)
    yield* Effect.promise(() => sql`DROP TABLE deliveries`.execute(db))
    // A schema fault is nobody's entry's fault: retryable, so the consumer keeps the entries pending.
    const commit = yield* Effect.flip(
      store.commit([{ deliveryId: { stream: "s", id: "2-0" }, event: makeEvent("t", "2") }])
    )
    assert.isTrue(commit.retryable, commit.message)
    const lookup = yield* Effect.flip(store.committed([{ stream: "s", id: "2-0" }]))
    assert.isTrue(lookup.retryable, lookup.message)
    assert.strictEqual((yield* store.stats).unique, 0, "nothing of either batch committed")
  }).pipe(Effect.scoped)
)

// The memory PostgreSQL sizes at start stays resident in PGlite's WebAssembly memory: both kinds of store start small.
it.live("PGlite starts with 16 MB of shared buffers, in memory and in a data directory", () =>
  Effect.gen(function* () {
    for (const db of [makePgliteKysely(), makePgliteKysely({ dataDir: tempDir() })]) {
      yield* Effect.addFinalizer(() => Effect.promise(() => db.destroy()))
      const shown = yield* Effect.promise(() => sql<{ shared_buffers: string }>`SHOW shared_buffers`.execute(db))
      assert.deepStrictEqual(shown.rows, [{ shared_buffers: "16MB" }])
    }
  }).pipe(Effect.scoped)
)

// Every directory and file under `dir` with a mode that lets anyone but the owner in.
const openToOthers = (dir: string): Array<string> => {
  const out: Array<string> = []
  const visit = (path: string) => {
    const stat = statSync(path)
    const allowed = stat.isDirectory() ? 0o700 : 0o600
    if ((stat.mode & 0o777 & ~allowed) !== 0) out.push(`${(stat.mode & 0o777).toString(8)} ${path}`)
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
  }
  visit(dir)
  return out
}

it.live("the data directory is private: 0700, its files 0600; looser modes found at start are tightened", () =>
  Effect.gen(function* () {
    const dataDir = join(tempDir(), "private")
    const open = Effect.gen(function* () {
      yield* (yield* EventStore.EventStore).commit([{ event: makeEvent("t", "1") }])
    }).pipe(Effect.provide(layerPglite({ dataDir })))
    yield* open
    assert.deepStrictEqual(openToOthers(dataDir), [])
    assert.strictEqual(statSync(dataDir).mode & 0o777, 0o700)
    // loosened while stopped (a copy, a restore with another umask): the next start tightens them
    chmodSync(dataDir, 0o755)
    chmodSync(join(dataDir, "PG_VERSION"), 0o666)
    yield* open
    assert.deepStrictEqual(openToOthers(dataDir), [])
  })
)
