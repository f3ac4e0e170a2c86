/** API keys: off by default; when set, every route but /health needs `Authorization: Bearer <key>`. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { event, memoryDirect, publish, type RunningApp, send, startApp } from "./utils/TestApp.ts"

describe("auth off (no API_KEYS)", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(memoryDirect())
  })
  afterAll(() => app.close())
  it("serves every route without a token", async () => {
    expect((await publish(app.url, event(1))).status).toBe(200)
    for (const path of ["/events", "/stats", "/metrics", "/health", "/openapi.json", "/docs"]) {
      expect((await send(app.url, { path })).status).toBe(200)
    }
  })
  it("does not advertise a security scheme", async () => {
    const doc = (await send(app.url, { path: "/openapi.json" })).json()
    expect(doc.components.securitySchemes).toBeUndefined()
  })
})

describe("auth on (API_KEYS=k1,k2)", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(memoryDirect(), { apiKeys: ["key-one", "key-two-longer"] })
  })
  afterAll(() => app.close())

  it("401 without a token, with a wrong one, or with a non-bearer scheme; nothing accepted", async () => {
    for (const authorization of [
      undefined,
      "Bearer nope",
      "Bearer key-one-x",
      "Basic a2V5LW9uZQ==",
      "Bearer",
      "key-one"
    ]) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
      const r = await publish(app.url, event("denied"), headers)
      expect(r.status).toBe(401)
      expect(r.headers["www-authenticate"]).toMatch(/^Bearer/)
      expect(r.json().error.code).toBe("unauthorized")
    }
    const stats = await send(app.url, { path: "/stats", headers: { authorization: "Bearer key-one" } })
    expect(stats.json().received).toBe(0)
  })

  it("accepts any configured key", async () => {
    expect((await publish(app.url, event(1), { authorization: "Bearer key-one" })).status).toBe(200)
    expect((await publish(app.url, event(2), { authorization: "bearer key-two-longer" })).status).toBe(200)
  })

  it("protects /events, /stats and /metrics", async () => {
    for (const path of ["/events", "/stats", "/metrics"]) {
      expect((await send(app.url, { path })).status).toBe(401)
      expect((await send(app.url, { path, headers: { authorization: "Bearer key-two-longer" } })).status).toBe(200)
    }
  })

  it("leaves only /health open; the docs and the OpenAPI document need a token too", async () => {
    expect((await send(app.url, { path: "/health" })).status).toBe(200)
    const bearer = { authorization: "Bearer key-one" }
    for (const path of ["/openapi.json", "/docs", "/docs/swagger-ui.css"]) {
      expect((await send(app.url, { path })).status).toBe(401)
      expect((await send(app.url, { path, headers: bearer })).status).toBe(200)
    }
    const doc = (await send(app.url, { path: "/openapi.json", headers: bearer })).json()
    expect(doc.components.securitySchemes.bearer).toEqual({ type: "http", scheme: "bearer" })
  })

  it("answers unknown paths and wrong methods only with a key: 401 first, then 404/405", async () => {
    const bearer = { authorization: "Bearer key-one" }
    for (const request of [
      { path: "/nope" },
      { path: "/publish" },
      { method: "HEAD", path: "/publish" },
      { method: "DELETE", path: "/events" },
      { method: "POST", path: "/nope", headers: { "content-type": "json" }, body: "{}" }
    ]) {
      const denied = await send(app.url, request)
      expect(denied.status, request.path).toBe(401)
      expect(denied.headers.allow).toBeUndefined()
      expect(denied.headers["x-content-type-options"]).toBe("nosniff")
    }
    const missing = await send(app.url, { path: "/nope", headers: bearer })
    expect(missing.status).toBe(404)
    expect(missing.json().error.code).toBe("not_found")
    const wrong = await send(app.url, { path: "/publish", headers: bearer })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.allow).toBe("POST")
    const head = await send(app.url, { method: "HEAD", path: "/stats", headers: bearer })
    expect(head.status).toBe(200)
    expect((await send(app.url, { method: "HEAD", path: "/stats" })).status).toBe(401)
  })

  it("keeps /health open for every method: HEAD without a key, 405 (not 401) for another method", async () => {
    expect((await send(app.url, { method: "HEAD", path: "/health" })).status).toBe(200)
    const wrong = await send(app.url, { method: "POST", path: "/health" })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.allow).toBe("GET, HEAD")
  })

  it("checks auth before reading the body (401, not 415/413)", async () => {
    const r = await send(app.url, {
      method: "POST",
      path: "/publish",
      headers: { "content-type": "text/plain" },
      body: "x"
    })
    expect(r.status).toBe(401)
  })
})
