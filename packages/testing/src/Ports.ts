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

/**
 * Run `start` on a free port, again on a fresh one when it failed because the port was taken meanwhile
 * (`bindFailed`), at most `attempts` times in all; rejects with the last failure.
 *
 * @returns the port `start` succeeded on and what it resolved with.
 */
export const onFreePort = async <A>(
  start: (port: number) => Promise<A>,
  options: { readonly attempts: number; readonly bindFailed: (cause: unknown) => boolean }
): Promise<{ readonly port: number; readonly value: A }> => {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      return { port, value: await start(port) }
    } catch (cause) {
      if (!options.bindFailed(cause) || attempt >= options.attempts) throw cause
    }
  }
}
