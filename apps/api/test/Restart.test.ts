/**
 * Embedded mode keeps everything across a restart (PGlite in a data directory), and a stop is graceful: requests
 * in flight when the server closes are answered, and their events committed.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Layers from "../src/Layers.ts"
import { event, memoryDirect, publish, send, startApp, testConfig } from "./utils/TestApp.ts"

describe("restart on the same data directory (PGlite)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "agg-api-restart-"))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))
  const start = () => startApp(Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Pglite", dataDir } })))

  it("keeps events and dedup state; duplicates across the restart are dropped", async () => {
    const first = await start()
    try {
      expect((await publish(first.url, [event(1), event(2), event(3, { topic: "payments" })])).json()).toEqual({
        accepted: 3,
        unique: 3,
        duplicates: 0
      })
    } finally {
      await first.close()
    }
    const second = await start()
    try {
      // e-1 again (duplicate), e-2 changed (conflict), e-4 new
      const r = await publish(second.url, [event(1), event(2, { source: "other" }), event(4)])
      expect(r.json()).toEqual({ accepted: 3, unique: 1, duplicates: 2 })
      const stats = (await send(second.url, { path: "/stats" })).json()
      expect(stats).toMatchObject({ received: 6, unique_processed: 4, duplicate_dropped: 2, conflicts: 1 })
      const orders = (await send(second.url, { path: "/events?topic=orders" })).json().events
      expect(orders.map((e: { event_id: string; offset: number }) => [e.event_id, e.offset])).toEqual([
        ["e-1", 1],
        ["e-2", 2],
        ["e-4", 3]
      ])
      expect(orders[1].source).toBe("checkout-svc")
    } finally {
      await second.close()
    }
  })
})

// A fault hook holding every commit: it signals `started`, then waits until `release`.
const holdCommits = () => {
  const started = Effect.runSync(Deferred.make<void>())
  const gate = Effect.runSync(Deferred.make<void>())
  return {
    fault: (op: string) =>
      op === "commit" ? Deferred.succeed(started, undefined).pipe(Effect.andThen(Deferred.await(gate))) : Effect.void,
    started: () => Effect.runPromise(Deferred.await(started)),
    release: () => Effect.runSync(Deferred.succeed(gate, undefined))
  }
}

describe("graceful stop", () => {
  it("answers the request in flight and commits it before the layers close", async () => {
    // The first commit signals it started, then waits until the test has begun closing the app.
    const held = holdCommits()
    const app = await startApp(memoryDirect({ fault: held.fault }))
    const inFlight = publish(app.url, [event(1), event(2)])
    await held.started()
    const closing = app.close()
    held.release()
    const r = await inFlight
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ accepted: 2, unique: 2, duplicates: 0 })
    expect(r.headers.connection).toBe("close")
    await closing
    await expect(send(app.url, { path: "/health" })).rejects.toThrow(/ECONNREFUSED/)
  })

  it("closes a connection still busy after the shutdown timeout", async () => {
    const held = holdCommits()
    const app = await startApp(memoryDirect({ fault: held.fault }), { shutdownTimeoutMs: 100 })
    const inFlight = publish(app.url, event(1))
    await held.started()
    const closing = app.close()
    // The server gives up on the request and cuts its connection; only then may the commit (and the layers) end.
    await expect(inFlight).rejects.toThrow(/socket hang up|ECONNRESET/)
    held.release()
    await closing
  })
})
