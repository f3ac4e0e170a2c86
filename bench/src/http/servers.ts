/**
 * Parse-only HTTP servers for the HTTP-layer comparison: each reads a POST body, JSON.parses it and
 * answers `{"accepted":1}`. Run as a child process (`node servers.ts <kind>`) so the server owns a core and the
 * load generator the other; it prints `{"port":n}` on stdout once listening. Nothing here validates or stores.
 */
import * as Http from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import Fastify from "fastify"

export const serverKinds = ["node-http", "fastify", "effect", "node-http+runtime", "api"] as const
export type ServerKind = (typeof serverKinds)[number]

const ACCEPTED = JSON.stringify({ accepted: 1 })

/** Bare node:http: collect the body, JSON.parse it, answer. The baseline the others are measured against. */
const startNodeHttp = (): Promise<number> => {
  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      try {
        JSON.parse(Buffer.concat(chunks).toString("utf8"))
        res.writeHead(200, { "content-type": "application/json" }).end(ACCEPTED)
      } catch {
        res.writeHead(400).end()
      }
    })
  })
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  )
}

/** Fastify 5 with its default JSON body parser and logger off. */
const startFastify = async (): Promise<number> => {
  const app = Fastify({ logger: false })
  app.post("/publish", async () => ({ accepted: 1 }))
  await app.listen({ port: 0, host: "127.0.0.1" })
  return (app.server.address() as { port: number }).port
}

/** Effect 4.1 HttpRouter on @effect/platform-node's NodeHttpServer, request logger off. */
const startEffect = (): Promise<number> => {
  const Routes = HttpRouter.add(
    "POST",
    "/publish",
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      yield* request.json
      return HttpServerResponse.jsonUnsafe({ accepted: 1 })
    }).pipe(Effect.orDie)
  )
  const App = HttpRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  )
  return new Promise((resolve) => {
    const program = Effect.gen(function* () {
      const address = (yield* HttpServer.HttpServer).address
      if ("port" in address) resolve(address.port)
      return yield* Effect.never
    })
    Effect.runFork(program.pipe(Effect.provide(App)))
  })
}

/**
 * node:http whose handler runs the parse as an Effect program on a ManagedRuntime (a lean node:http edge, domain
 * logic in Effect: the api's shape before it moved to Fastify), so its cost over the bare baseline is the runtime's.
 */
const startNodeHttpRuntime = (): Promise<number> => {
  const runtime = ManagedRuntime.make(Layer.empty)
  const handle = (body: Buffer) =>
    Effect.try(() => JSON.parse(body.toString("utf8")) as unknown).pipe(Effect.as(ACCEPTED))
  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      runtime.runPromise(handle(Buffer.concat(chunks))).then(
        (body) => res.writeHead(200, { "content-type": "application/json" }).end(body),
        () => res.writeHead(400).end()
      )
    })
  })
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  )
}

export const startServer = (kind: ServerKind): Promise<number> => {
  switch (kind) {
    case "node-http":
      return startNodeHttp()
    case "fastify":
      return startFastify()
    case "effect":
      return startEffect()
    case "node-http+runtime":
      return startNodeHttpRuntime()
    case "api":
      // Loaded only for this kind: it pulls the workspace sources of apps/api and @agg/core.
      return import("./apiServer.ts").then((m) => m.startApiServer())
  }
}

if (import.meta.main) {
  const kind = process.argv[2] as ServerKind
  if (!serverKinds.includes(kind)) {
    console.error(`usage: node servers.ts <${serverKinds.join("|")}>`)
    process.exit(2)
  }
  const port = await startServer(kind)
  // Exit through process.exit so --cpu-prof and similar flags can write their output.
  process.on("SIGTERM", () => process.exit(0))
  console.log(JSON.stringify({ port }))
}
