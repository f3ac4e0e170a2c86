/** GET /docs (Swagger UI from the swagger-ui-dist package, no CDN) and GET /openapi.json (from @agg/schema). */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { memoryDirect, type RunningApp, send, startApp } from "./utils/TestApp.ts"

describe("docs", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(memoryDirect(), { limits: { maxEventsPerRequest: 77 } })
  })
  afterAll(() => app.close())

  it("/docs is HTML whose scripts and styles are local and served", async () => {
    const page = await send(app.url, { path: "/docs" })
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'")
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'none'")
    expect(page.headers["cache-control"]).toBe("public, max-age=3600")
    expect(page.status).toBe(200)
    expect(page.headers["content-type"]).toMatch(/^text\/html/)
    const refs = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(refs.length).toBeGreaterThanOrEqual(4)
    expect(refs.every((r) => r.startsWith("/docs/"))).toBe(true)
    expect(page.text).not.toMatch(/https?:\/\//)
    for (const ref of refs) {
      const asset = await send(app.url, { path: ref })
      expect(asset.status, ref).toBe(200)
      expect(asset.text.length, ref).toBeGreaterThan(100)
    }
    const bundle = await send(app.url, { path: "/docs/swagger-ui-bundle.js" })
    expect(bundle.text).toContain("SwaggerUIBundle")
    const init = await send(app.url, { path: "/docs/init.js" })
    expect(init.text).toContain('"/openapi.json"')
  })

  it("/openapi.json is OpenAPI 3.1 with the schemas of @agg/schema and the configured limits", async () => {
    const r = await send(app.url, { path: "/openapi.json" })
    expect(r.status).toBe(200)
    const doc = r.json()
    expect(doc.openapi).toBe("3.1.0")
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/conflicts",
      "/consumers",
      "/dead-letters",
      "/dead-letters/discard",
      "/dead-letters/redrive",
      "/dead-letters/{id}",
      "/events",
      "/events/stream",
      "/events/{topic}/{event_id}",
      "/health",
      "/metrics",
      "/publish",
      "/stats",
      "/topics"
    ])
    expect(doc.paths["/dead-letters/redrive"].post.requestBody.content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/DeadLetterSelection"
    })
    const body = doc.paths["/publish"].post.requestBody.content["application/json"].schema
    expect(body).toEqual({ $ref: "#/components/schemas/PublishBody" })
    const publishBody = doc.components.schemas.PublishBody
    expect(publishBody.oneOf).toHaveLength(3)
    expect(JSON.stringify(publishBody)).toContain('"maxItems":77')
    expect(doc.components.schemas.Event.required).toEqual(
      expect.arrayContaining(["topic", "event_id", "timestamp", "source", "payload"])
    )
    expect(Object.keys(doc.paths["/publish"].post.responses).sort()).toEqual(["200", "202", "400", "413", "415", "503"])
    expect(doc.paths["/events"].get.parameters.map((p: { name: string }) => p.name).sort()).toEqual([
      "after",
      "limit",
      "since",
      "topic"
    ])
    // every $ref resolves
    const refs = [...r.text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!)
    for (const ref of refs) expect(doc.components.schemas[ref], ref).toBeDefined()
  })
})

describe("docs behind API keys", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(memoryDirect(), { apiKeys: ["k"] })
  })
  afterAll(() => app.close())

  it("is cached privately only, so a shared cache never serves it to a client without a key", async () => {
    const headers = { authorization: "Bearer k" }
    const page = await send(app.url, { path: "/docs", headers })
    expect(page.status).toBe(200)
    expect(page.headers["cache-control"]).toBe("private, max-age=3600")
    expect((await send(app.url, { path: "/openapi.json", headers })).headers["cache-control"]).toBe("private, no-cache")
    expect((await send(app.url, { path: "/docs" })).status).toBe(401)
  })
})
