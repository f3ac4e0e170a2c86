/**
 * GET /dashboard in a real browser: Debian's chromium driven by playwright-core (no browser is downloaded), on
 * the real app in direct mode (PGlite) and in queued mode (Redis, PostgreSQL and one worker process). Checks that
 * the page loads without console errors, that its figures equal GET /stats after publishing, that the rate chart
 * gains points during a load, that a published event shows up in the live tail, that no data is fetched without
 * a key and all of it is after entering one. Writes docs/dashboard.png (the queued page) for the README.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ConsumersBody } from "@agg/schema"
import { entries, repoRoot, spawnNode } from "@agg/testing/Processes"
import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  useRedisPrefix,
  useTestDatabase
} from "@agg/testing/TestServices"
import { Effect, Exit, Redacted, Scope } from "effect"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest"
import { buildDashboard } from "../dashboard/build.ts"
import * as Layers from "../src/Layers.ts"
import { event, memoryDirect, publish, type RunningApp, send, startApp, testConfig } from "./utils/TestApp.ts"

const CHROMIUM = "/usr/bin/chromium"
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run"
]
const SCREENSHOT = join(repoRoot, "docs", "dashboard.png")
const STATS = ["received", "unique_processed", "duplicate_dropped", "conflicts", "pending"] as const

interface Browser {
  readonly page: Page
  /** Console errors and uncaught exceptions of the page so far. */
  readonly errors: Array<string>
  /** Paths of the requests the page made so far. */
  readonly requests: Array<string>
  readonly close: () => Promise<void>
}

// A fresh profile per page, so nothing (sessionStorage, cache) carries over between tests.
const openBrowser = async (url: string): Promise<Browser> => {
  const profile = mkdtempSync(join(tmpdir(), "agg-dashboard-"))
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 1000 }
  })
  const page = context.pages()[0] ?? (await context.newPage())
  const errors: Array<string> = []
  const requests: Array<string> = []
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text())
  })
  page.on("pageerror", (error) => errors.push(String(error)))
  page.on("request", (request) => requests.push(new URL(request.url()).pathname))
  await page.goto(`${url}/dashboard`)
  return {
    page,
    errors,
    requests,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    }
  }
}

const statsOf = async (url: string, key?: string) => {
  const r = await send(url, { path: "/stats", headers: key === undefined ? {} : { authorization: `Bearer ${key}` } })
  expect(r.status).toBe(200)
  return r.json() as Record<(typeof STATS)[number], number>
}

/** What the page shows for each counter (`data-value`, the number without its separators). */
const shown = async (page: Page) => {
  const out: Record<string, number | null> = {}
  for (const key of STATS) {
    const value = await page.locator(`[data-stat="${key}"]`).getAttribute("data-value")
    out[key] = value === null || value === "" ? null : Number(value)
  }
  return out
}

const pick = (stats: Record<string, number>) => Object.fromEntries(STATS.map((k) => [k, stats[k]]))

/** The page's counters equal GET /stats (read again after each look, until both agree and the work is done). */
const expectFiguresMatch = async (page: Page, url: string, key?: string) => {
  await expect
    .poll(
      async () => {
        const stats = await statsOf(url, key)
        return stats.pending === 0 ? { page: await shown(page), api: pick(stats) } : "pending"
      },
      { timeout: 20_000, interval: 200 }
    )
    .toSatisfy((r) => typeof r === "object" && JSON.stringify(r.page) === JSON.stringify(r.api))
}

const chartState = async (page: Page) => {
  const chart = page.locator("#chart")
  return {
    points: Number(await chart.getAttribute("data-points")),
    last: Number((await chart.getAttribute("data-last")) ?? 0)
  }
}

/**
 * Publish batches until the chart has gained `gain` points (one a second) and shows a non-zero rate (bounded by
 * the poll's timeout).
 */
const expectChartMovesUnderLoad = async (page: Page, url: string, gain = 1) => {
  const before = await chartState(page)
  let sent = 0
  let moved = false
  const load = (async () => {
    while (!moved) {
      const batch = Array.from({ length: 20 }, () => event(`load-${sent++}`, { topic: "load" }))
      const r = await publish(url, batch)
      expect(r.status).toBeLessThan(300)
    }
  })()
  try {
    await expect
      .poll(
        async () => {
          const now = await chartState(page)
          return now.points >= before.points + gain && now.last > 0
        },
        { timeout: 20_000, interval: 100 }
      )
      .toBe(true)
  } finally {
    moved = true
    await load
  }
  expect((await chartState(page)).points).toBeGreaterThan(before.points)
}

/** Choose `topic` in the tail, publish one event to it, and wait for its row. */
const expectTailShows = async (page: Page, url: string, topic: string) => {
  await page.locator("#tail-topic").selectOption(topic)
  await page.locator('#tail-state[data-state="live"]').waitFor()
  const published = event(`tail-${Date.now()}`, { topic, payload: { via: "tail" } })
  expect((await publish(url, published)).status).toBeLessThan(300)
  const row = page.locator(`#tail tr[data-event="${published.event_id}"]`)
  await row.waitFor({ timeout: 20_000 })
  expect(await row.textContent()).toContain('"via":"tail"')
}

beforeAll(async () => {
  await buildDashboard()
})

describe("GET /dashboard, direct mode (PGlite)", () => {
  let app: RunningApp
  let browser: Browser | undefined
  beforeAll(async () => {
    app = await startApp(Layers.services(testConfig({ _tag: "Direct", storage: { _tag: "Pglite" } })))
  })
  afterEach(async () => {
    await browser?.close()
    browser = undefined
  })
  afterAll(() => app.close())

  it("serves the page and its assets without a key, gzipped, with no data in it", async () => {
    const r = await send(app.url, { path: "/dashboard", headers: { "accept-encoding": "gzip" } })
    expect(r.status).toBe(200)
    expect(r.headers["content-encoding"]).toBe("gzip")
    expect(r.headers["content-security-policy"]).toContain("default-src 'none'")
    const plain = await send(app.url, { path: "/dashboard" })
    expect(plain.headers["content-type"]).toBe("text/html; charset=utf-8")
    expect(plain.text).toContain('data-auth="off"')
    const assets = [...plain.text.matchAll(/\/dashboard\/(dashboard-[A-Z0-9]+\.(?:js|css))/g)].map((m) => m[1])
    expect(assets).toHaveLength(2)
    for (const asset of assets) expect((await send(app.url, { path: `/dashboard/${asset}` })).status).toBe(200)
  })

  it("shows the figures of /stats, the topics, a moving chart and the live tail, without console errors", async () => {
    expect(
      (await publish(app.url, [event(1), event(2), event(1), event(2, { payload: { other: true } })])).status
    ).toBe(200)
    expect((await publish(app.url, event("p1", { topic: "payments" }))).status).toBe(200)
    browser = await openBrowser(app.url)
    const { page } = browser
    await expectFiguresMatch(page, app.url)
    const topics = await Promise.all(
      (await page.locator("#topics tr").all()).map((row) => row.locator("td").allTextContents())
    )
    const stats = await statsOf(app.url)
    expect(topics.map((t) => t[0]).sort()).toEqual([...(stats as unknown as { topics: Array<string> }).topics].sort())
    const payments = topics.find((t) => t[0] === "payments")!
    expect(payments.slice(1, 5)).toEqual(["1", "0", "0", "1"])
    expect(payments[5]).toMatch(/^\d\d:\d\d:\d\d$/)
    expect(await page.locator("#health [data-check=store]").textContent()).toBe("store: up")
    expect(await page.locator("#consumers-panel").isHidden()).toBe(true)

    await expectChartMovesUnderLoad(page, app.url)
    await expectTailShows(page, app.url, "payments")
    await expectFiguresMatch(page, app.url)
    expect(browser.errors).toEqual([])
  })
})

describe("GET /dashboard with API_KEYS", () => {
  let app: RunningApp
  let browser: Browser | undefined
  beforeAll(async () => {
    app = await startApp(memoryDirect(), { apiKeys: ["dash-key"] })
  })
  afterEach(async () => {
    await browser?.close()
    browser = undefined
  })
  afterAll(() => app.close())

  it("asks for a key and fetches no data without one; with it, shows /stats and keeps it for the tab", async () => {
    expect((await publish(app.url, [event(1), event(2)], { authorization: "Bearer dash-key" })).status).toBe(200)
    expect((await send(app.url, { path: "/stats" })).status).toBe(401)
    const html = await send(app.url, { path: "/dashboard" })
    expect(html.text).toContain('data-auth="required"')
    expect(html.text).not.toContain("dash-key")

    browser = await openBrowser(app.url)
    const { page, requests } = browser
    await page.locator("#key-form").waitFor()
    expect(await page.locator("#dashboard").isHidden()).toBe(true)
    // Only /health (open) is asked for until a key is given.
    await page.locator("#health [data-check=store]").waitFor({ state: "attached" })
    expect(requests.filter((p) => !p.startsWith("/dashboard") && p !== "/health")).toEqual([])
    expect((await shown(page)).received).toBeNull()

    await page.locator("#api-key").fill("dash-key")
    await page.locator("#key-form button[type=submit]").click()
    await page.locator("#dashboard").waitFor()
    await expectFiguresMatch(page, app.url, "dash-key")
    expect(await page.evaluate(() => sessionStorage.getItem("agg.apiKey"))).toBe("dash-key")
    // A reload in the same tab keeps the key: no form, figures again.
    await page.reload()
    await page.locator("#dashboard").waitFor()
    await expectFiguresMatch(page, app.url, "dash-key")
    expect(await page.locator("#key-form").isHidden()).toBe(true)
    expect(browser.errors).toEqual([])
  })
})

describeWithServices(
  "GET /dashboard, queued mode (Redis, PostgreSQL, one worker)",
  [await checkPostgres(), await checkRedis()],
  () => {
    const db = useTestDatabase()
    const redis = useRedisPrefix()
    let app: RunningApp
    let browser: Browser | undefined
    const scope = Effect.runSync(Scope.make())
    beforeAll(async () => {
      const streamKey = `${redis.prefix}:events`
      app = await startApp(
        Layers.services(
          testConfig({
            _tag: "Queued",
            redisUrl: Redacted.make(redis.url),
            streamKey,
            databaseUrl: Redacted.make(db().url)
          })
        )
      )
      const worker = await Effect.runPromise(
        spawnNode("worker w1", entries.worker, {
          env: {
            DATABASE_URL: db().url,
            REDIS_URL: redis.url,
            STREAM_KEY: streamKey,
            WORKER_CONSUMER: "w1",
            WORKER_BLOCK_MS: "200",
            LOG_LEVEL: "Info"
          }
        }).pipe(Scope.provide(scope))
      )
      await vi.waitFor(() => expect(worker.output()).toContain('"worker started"'), { timeout: 30_000, interval: 100 })
    })
    afterEach(async () => {
      await browser?.close()
      browser = undefined
    })
    afterAll(async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await app?.close()
    })

    it("shows the figures, the worker among the consumers, a moving chart and the tail; writes the screenshot", async () => {
      expect((await publish(app.url, [event(1), event(2), event(1)])).status).toBe(202)
      expect((await publish(app.url, event("s1", { topic: "shipments" }))).status).toBe(202)
      browser = await openBrowser(app.url)
      const { page } = browser
      await expectFiguresMatch(page, app.url)
      const consumer = page.locator('#consumers tr[data-consumer="w1"]')
      await consumer.waitFor({ timeout: 20_000 })
      expect(await consumer.locator("td").nth(3).textContent()).toBe("alive")
      // The only worker owns every partition of the log: the count, with their numbers on hover.
      const listed = await send(app.url, { path: "/consumers" })
      const owned = (listed.json() as ConsumersBody).consumers.find((c) => c.name === "w1")
      expect(owned?.partitions.length).toBeGreaterThan(0)
      expect(await consumer.locator("td").nth(4).textContent()).toBe(String(owned?.partitions.length))
      expect(await consumer.locator("td").nth(4).getAttribute("title")).toBe(owned?.partitions.join(", "))
      expect(await page.locator("#health [data-check=stream]").textContent()).toBe("stream: up")

      // A few seconds of load, so the screenshot shows a curve.
      await expectChartMovesUnderLoad(page, app.url, 6)
      await expectTailShows(page, app.url, "shipments")
      await expectFiguresMatch(page, app.url)
      expect(await page.locator('[data-stat="lag"]').getAttribute("data-value")).toBe("0")
      await page.screenshot({ path: SCREENSHOT, fullPage: true })
      expect(browser.errors).toEqual([])
    })
  }
)
