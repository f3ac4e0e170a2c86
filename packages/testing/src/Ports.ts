/**
 * Free TCP ports on 127.0.0.1 for tests, benchmarks and private servers: the OS picks one (listen on port 0), the
 * probe closes it, the caller binds it.
 *
 * @remarks Does not reserve the port: between the probe's close and the caller's bind another process may take
 * it (rare). Callers that can retry with a fresh port on EADDRINUSE should.
 */
import { createServer } from "node:net"

/**
 * A TCP port that was free on 127.0.0.1 a moment ago.
 *
 * @returns the port number (never 0); rejects only if the probe itself cannot listen.
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (typeof address !== "object" || address === null) {
        server.close()
        reject(new Error(`freePort: unexpected listen address ${String(address)}`))
        return
      }
      server.close(() => resolve(address.port))
    })
  })
