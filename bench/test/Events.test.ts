import { parsePublishBody } from "@agg/schema"
import { describe, expect, it } from "vitest"
import { bodyColumns, makeFreshBodies, makeSequence, renderEvent, walkSequence } from "../src/Events.ts"

describe("makeSequence", () => {
  it("holds exactly floor(events × ratio) duplicates, each a byte-identical repeat of an earlier event", () => {
    const seq = makeSequence({ events: 10_007, duplicateRatio: 0.3, batchSize: 500, idPrefix: "t" })
    expect(seq.duplicates).toBe(Math.floor(10_007 * 0.3))
    expect(seq.unique + seq.duplicates).toBe(10_007)
    expect(seq.bodies).toHaveLength(Math.ceil(10_007 / 500))
    const texts = seq.bodies.flatMap((b) => (JSON.parse(b.toString()) as Array<unknown>).map((e) => JSON.stringify(e)))
    expect(texts).toHaveLength(10_007)
    const firstSeen = new Map<string, string>()
    let repeats = 0
    for (const text of texts) {
      const e = JSON.parse(text) as { topic: string; event_id: string }
      const key = `${e.topic}\u0000${e.event_id}`
      const earlier = firstSeen.get(key)
      if (earlier === undefined) firstSeen.set(key, text)
      else {
        repeats++
        expect(text).toBe(earlier)
      }
    }
    expect(firstSeen.size).toBe(seq.unique)
    expect(repeats).toBe(seq.duplicates)
  })

  it("is deterministic, and a shorter sequence is a prefix of a longer one with the same seed", () => {
    const long = makeSequence({ events: 3000, duplicateRatio: 0.3, batchSize: 100, seed: 7 })
    const short = makeSequence({ events: 1000, duplicateRatio: 0.3, batchSize: 100, seed: 7 })
    expect(short.bodies.map(String)).toEqual(long.bodies.slice(0, 10).map(String))
  })

  it("rejects bad options with a message naming them", () => {
    expect(() => walkSequence({ events: 0, duplicateRatio: 0.3 }, () => undefined)).toThrow(/events/)
    expect(() => walkSequence({ events: 10, duplicateRatio: 1 }, () => undefined)).toThrow(/duplicateRatio/)
    expect(() => makeSequence({ events: 10, duplicateRatio: 0.1, batchSize: 0 })).toThrow(/batchSize/)
  })

  it("renders events the api's schema shape expects", () => {
    const [e] = bodyColumns(Buffer.from(`[${renderEvent(12, "x", 16)}]`))
    expect(e).toMatchObject({ topic: "bench.t12", event_id: "x-12", source: "bench-publisher" })
    expect(Number.isNaN(Date.parse(e!.timestamp))).toBe(false)
    expect(JSON.parse(e!.payload)).toMatchObject({ order_id: "o-12" })
  })
})

describe("the api's publish schema", () => {
  it("accepts every body the bench sends, as the shape it parses", () => {
    const seq = makeSequence({ events: 1_200, duplicateRatio: 0.3, batchSize: 500 })
    for (const body of seq.bodies) {
      const parsed = parsePublishBody(JSON.parse(body.toString()))
      expect(parsed.ok ? parsed.events.length : parsed).toBe((JSON.parse(body.toString()) as Array<unknown>).length)
    }
    for (const size of [1, 500]) {
      const parsed = parsePublishBody(JSON.parse(makeFreshBodies("s", size)()))
      expect(parsed.ok ? parsed.events.length : parsed).toBe(size)
    }
  })
})

describe("makeFreshBodies", () => {
  it("never repeats an event id, within or across bodies", () => {
    const next = makeFreshBodies("r", 50)
    const ids = new Set<string>()
    for (let i = 0; i < 20; i++) {
      for (const e of JSON.parse(next()) as Array<{ event_id: string }>) ids.add(e.event_id)
    }
    expect(ids.size).toBe(1000)
    const single = makeFreshBodies("s", 1)
    const a = JSON.parse(single()) as { event_id: string; topic: string }
    const b = JSON.parse(single()) as { event_id: string; topic: string }
    expect(a.event_id).not.toBe(b.event_id)
    expect(a.topic).not.toBe(b.topic)
  })
})
