/**
 * What Fastify's routing gives every route: HEAD on each GET route (the GET's headers, no body), 405 with Allow
 * for another method on a known path, 404 for an unknown one, and `x-content-type-options: nosniff` on every
 * answer, errors included.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { event, memoryDirect, publish, type RunningApp, send, startApp } from "./utils/TestApp.ts"

describe("routing", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(memoryDirect(), { limits: { maxBodyBytes: 2048 } })
    expect((await publish(app.url, [event(1), event(2)])).status).toBe(200)
  })
  afterAll(() => app.close())

  it.each(["/health", "/events?topic=orders", "/docs/init.js"])(
    "HEAD %s answers the GET's status and headers without a body",
    async (path) => {
      const get = await send(app.url, { path })
      const head = await send(app.url, { method: "HEAD", path })
      expect(get.text.length).toBeGreaterThan(0)
      expect(head.status).toBe(get.status)
      expect(head.text).toBe("")
      for (const name of ["content-type", "content-length", "cache-control", "x-content-type-options"]) {
        expect(head.headers[name], name).toBe(get.headers[name])
      }
      expect(Number(head.headers["content-length"])).toBe(Buffer.byteLength(get.text))
      expect(head.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
    }
  )

  it("405 lists GET and HEAD for a GET route, POST for /publish (HEAD included)", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await send(app.url, { method, path: "/events" })
      expect(r.status, method).toBe(405)
      expect(r.headers.allow).toBe("GET, HEAD")
      expect(r.json().error.code).toBe("method_not_allowed")
    }
    const head = await send(app.url, { method: "HEAD", path: "/publish" })
    expect(head.status).toBe(405)
    expect(head.headers.allow).toBe("POST")
  })

  it("matches paths exactly: a trailing slash or another case is unknown", async () => {
    for (const path of ["/stats/", "/Stats", "/publish/x", "/"]) {
      const r = await send(app.url, { path })
      expect(r.status, path).toBe(404)
      expect(r.json()).toEqual({ error: { code: "not_found", message: expect.any(String) } })
    }
  })

  it("sends x-content-type-options: nosniff on every answer", async () => {
    const answers = [
      await send(app.url, { path: "/health" }),
      await send(app.url, { path: "/metrics" }),
      await send(app.url, { path: "/docs" }),
      await publish(app.url, event(3)),
      await send(app.url, { path: "/nope" }),
      await send(app.url, { path: "/publish" }),
      await publish(app.url, "{"),
      await publish(app.url, { pad: "x".repeat(4096) }),
      await send(app.url, { method: "POST", path: "/publish", headers: { "content-type": "text/plain" }, body: "x" })
    ]
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 404, 405, 400, 413, 415])
    for (const r of answers) expect(r.headers["x-content-type-options"]).toBe("nosniff")
  })
})
