/**
 * Bodies the server will not use cost it little: a batch of more items than allowed is refused by a scan before it
 * is parsed, and a body that arrives after the answer (401, 413 on the announced length) is read only up to a
 * small bound before the connection is closed.
 */
import * as Net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exceedsItems } from "../src/Body.ts"
import * as Layers from "../src/Layers.ts"
import { type RunningApp, send, startApp } from "./utils/TestApp.ts"

describe("exceedsItems: items counted before parsing", () => {
  const many = (n: number, item = "{}") => Array.from({ length: n }, () => item).join(",")
  it.each([
    ["a top-level array", `[${many(4)}]`, 3, true],
    ["a top-level array at the limit", `[${many(3)}]`, 3, false],
    ["the events array of the wrapper", `{"x": [1,2,3,4,5], "events": [${many(4)}]}`, 3, true],
    ["another key's array is not counted", `{"x": [${many(9)}], "events": [${many(2)}]}`, 3, false],
    ["arrays inside items are not counted", `[{"payload": {"a": [${many(9, "1")}]}}]`, 3, false],
    ["brackets and commas inside strings", `["[,,,]", "\\"],[", "{", "}"]`, 3, true],
    ["scalars count as items", `[1, "two", true, null]`, 3, true],
    ["a single event object", `{"topic": "t", "payload": {"a": [1,2,3,4,5]}}`, 3, false],
    ["an empty array", "[]", 0, false],
    ["an unterminated array, already too long", `[${many(5)}`, 3, true]
  ])("%s", (_, text, max, expected) => {
    expect(exceedsItems(text, max)).toBe(expected)
  })
})

describe("unwanted bodies", () => {
  let app: RunningApp
  beforeAll(async () => {
    app = await startApp(Layers.memoryDirect(), {
      apiKeys: ["k"],
      limits: { maxBodyBytes: 1024 * 1024, maxEventsPerRequest: 100 }
    })
  })
  afterAll(() => app.close())

  it("an oversized batch is refused with 413 before it is parsed (a truncated one too)", async () => {
    // Unterminated: JSON.parse would answer 400; the count comes first, so it is 413.
    const body = `[${Array.from({ length: 5_000 }, () => "{}").join(",")}`
    const r = await send(app.url, {
      method: "POST",
      path: "/publish",
      headers: { "content-type": "application/json", authorization: "Bearer k" },
      body
    })
    expect(r.status).toBe(413)
    expect(r.json().error.code).toBe("too_many_events")
  })

  // Sends the head, then keeps sending body bytes until the server closes the connection (or `budget` is spent).
  const sendForever = (head: string, budget: number) =>
    new Promise<{ readonly answer: string; readonly closed: boolean }>((resolve) => {
      const socket = Net.connect(app.port, "127.0.0.1")
      let answer = ""
      let written = 0
      let done = false
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      const finish = (closed: boolean) => {
        if (done) return
        done = true
        socket.destroy()
        resolve({ answer, closed })
      }
      socket.on("data", (d) => {
        answer += d.toString("latin1")
      })
      socket.on("close", () => finish(true))
      socket.on("error", () => finish(true))
      const pump = () => {
        while (!done && written < budget) {
          written += chunk.length
          if (!socket.write(chunk)) return void socket.once("drain", pump)
        }
        if (!done) finish(false)
      }
      socket.write(head, pump)
    })

  it("after a 413 on the announced length, the connection is closed instead of reading the body", async () => {
    const head =
      "POST /publish HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\n" +
      "content-length: 100000000000\r\n\r\n"
    const { answer, closed } = await sendForever(head, 256 * 1024 * 1024)
    expect(answer).toMatch(/^HTTP\/1\.1 413/)
    expect(answer.toLowerCase()).toContain("connection: close")
    expect(closed, "the server cut the connection before 256 MiB were sent").toBe(true)
  })

  it("after a 401, the unread body is not read to the end either", async () => {
    const head =
      "POST /publish HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000000000\r\n\r\n"
    const { answer, closed } = await sendForever(head, 256 * 1024 * 1024)
    expect(answer).toMatch(/^HTTP\/1\.1 401/)
    expect(closed).toBe(true)
  })

  it("a normal request on a kept-alive connection is unaffected", async () => {
    const r = await send(app.url, { method: "GET", path: "/health" })
    expect(r.status).toBe(200)
  })
})
