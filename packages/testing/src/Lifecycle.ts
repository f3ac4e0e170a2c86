/**
 * The plumbing the private servers (`PrivatePostgres`, `PrivateRedis`) and the isolated services
 * (`TestServices`) share: a temporary directory that is removed even when the process ends without a teardown,
 * and the vitest shape "acquire in `beforeAll`, release in `afterAll`, read it through a getter".
 *
 * Does not start or stop anything itself: callers say what to kill at exit and what to acquire and release.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"

/** A temporary directory of `scratchDir`. */
export interface ScratchDir {
  readonly path: string
  /** Whether `remove` ran. */
  readonly removed: () => boolean
  /** Delete the directory and drop the exit hook. Idempotent. */
  readonly remove: () => void
}

/**
 * A fresh directory `<tmp>/<prefix>XXXXXX`, deleted by `remove()` or, if the process exits first (a crashed
 * test runner), by an exit hook that first runs `onExit`: synchronously, to kill what still uses the directory.
 */
export const scratchDir = (prefix: string, onExit: () => void): ScratchDir => {
  const path = mkdtempSync(join(tmpdir(), prefix))
  let removed = false
  const hook = () => {
    onExit()
    rmSync(path, { recursive: true, force: true })
  }
  process.once("exit", hook)
  return {
    path,
    removed: () => removed,
    remove: () => {
      if (removed) return
      removed = true
      process.removeListener("exit", hook)
      rmSync(path, { recursive: true, force: true })
    }
  }
}

/**
 * Plain vitest: `acquire` the file's resource in `beforeAll`, `release` it in `afterAll` (also when tests
 * failed). The getter returned throws before `beforeAll` ran; `name` and `what` word that error
 * (`<name>: <what> exists only once beforeAll has run`).
 */
export const useForFile = <A>(
  name: string,
  what: string,
  acquire: () => Promise<A>,
  release: (resource: A) => Promise<unknown>
): (() => A) => {
  let resource: A | undefined
  beforeAll(async () => {
    resource = await acquire()
  })
  afterAll(async () => {
    if (resource !== undefined) await release(resource)
  })
  return () => {
    if (resource === undefined) throw new Error(`${name}: ${what} exists only once beforeAll has run`)
    return resource
  }
}
