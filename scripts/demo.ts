/**
 * `pnpm demo`: the seeds' scenario in one command. Starts the embedded api (PGlite in a fresh temporary DATA_DIR,
 * no broker, a free port), waits for /health, runs the publisher CLI with 20,000 events, 30% duplicates and
 * `--verify`, then stops the api with SIGTERM and removes the temporary directory.
 *
 * Exit code: the publisher's (0 only when everything was accepted and verified), or 1 when the api fails to start
 * or to stop cleanly. Expects `apps/api/dist/main.js` and `apps/publisher/dist/bin.js` (the root `demo` script
 * builds them first). Deliberately does not touch DATABASE_URL/REDIS_URL deployments: both are removed from the
 * api's environment so the demo is always the embedded default.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../", import.meta.url))
const apiMain = join(root, "apps/api/dist/main.js")
const publisherBin = join(root, "apps/publisher/dist/bin.js")
const HEALTH_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 15_000

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const exitOf = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))

const waitHealthy = async (url: string, api: ChildProcess): Promise<void> => {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (api.exitCode !== null || api.signalCode !== null) throw new Error("the api exited before it was healthy")
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the api did not answer ${url} within ${HEALTH_TIMEOUT_MS / 1000} s`)
}

const stopApi = async (api: ChildProcess): Promise<boolean> => {
  if (api.exitCode !== null || api.signalCode !== null) return api.exitCode === 0
  api.kill("SIGTERM")
  const timer = setTimeout(() => api.kill("SIGKILL"), STOP_TIMEOUT_MS)
  const { code, signal } = await exitOf(api)
  clearTimeout(timer)
  if (code !== 0) console.error(`demo: the api did not stop cleanly (code ${code}, signal ${signal})`)
  return code === 0
}

const main = async (): Promise<number> => {
  const dataDir = mkdtempSync(join(tmpdir(), "agg-demo-"))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const { DATABASE_URL: _db, REDIS_URL: _redis, ...inherited } = process.env
  console.log(`demo: embedded api on ${url}, data in ${dataDir}`)
  const api = spawn(process.execPath, [apiMain], {
    env: { ...inherited, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "Warn" },
    stdio: ["ignore", "inherit", "inherit"]
  })
  // Ctrl-C on the demo: stop the api too, and still clean up.
  const interrupt = () => {
    api.kill("SIGTERM")
  }
  process.once("SIGINT", interrupt)
  process.once("SIGTERM", interrupt)
  try {
    await waitHealthy(`${url}/health`, api)
    const publisher = spawn(
      process.execPath,
      [publisherBin, "--url", url, "--events", "20000", "--duplicates", "0.3", "--verify"],
      { stdio: ["ignore", "inherit", "inherit"] }
    )
    const { code, signal } = await exitOf(publisher)
    const stopped = await stopApi(api)
    if (code !== 0) console.error(`demo: the publisher failed (code ${code}, signal ${signal})`)
    else if (stopped) console.log("demo: 20,000 events published, deduplicated and verified; the api stopped cleanly")
    return code === 0 ? (stopped ? 0 : 1) : (code ?? 1)
  } catch (error) {
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}`)
    await stopApi(api)
    return 1
  } finally {
    process.off("SIGINT", interrupt)
    process.off("SIGTERM", interrupt)
    rmSync(dataDir, { recursive: true, force: true })
  }
}

process.exitCode = await main()
