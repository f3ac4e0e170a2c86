// What each entry point loads, seen from a fresh Node process (as a worker or a queued API starts): "@agg/storage"
// never loads PGlite, "@agg/storage/pglite" does. Run from source through the "@agg/source" condition, which is
// also how the apps bundle this package; module evaluation includes reading the Lua scripts.
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "vitest"

const packageDir = fileURLToPath(new URL("..", import.meta.url))

// Records the URL of every module Node loads, then imports `specifier` and prints the list.
const probe = (specifier: string) => `
import { registerHooks } from "node:module"
const loaded = []
registerHooks({ load: (url, context, next) => { loaded.push(url); return next(url, context) } })
const module = await import(${JSON.stringify(specifier)})
console.log(JSON.stringify({ exports: Object.keys(module).sort(), loaded }))
`

const loadedBy = async (specifier: string) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--conditions=@agg/source", "--input-type=module", "--eval", probe(specifier)],
    { cwd: packageDir }
  )
  return JSON.parse(stdout) as { readonly exports: ReadonlyArray<string>; readonly loaded: ReadonlyArray<string> }
}

const isPglite = (url: string) => url.includes("/@electric-sql/pglite/")

describe("entry points", () => {
  it('"@agg/storage" loads pg and redis but never PGlite', async () => {
    const { exports, loaded } = await loadedBy("@agg/storage")
    assert.includeMembers([...exports], ["PgConnection", "PgEventStore", "RedisEventLog", "StreamKeys"])
    assert.notInclude([...exports], "layerPglite")
    assert.isTrue(
      loaded.some((url) => url.includes("/src/redis/RedisEventLog.ts")),
      "the probe sees this package's modules"
    )
    assert.isTrue(
      loaded.some((url) => url.includes("/node_modules/pg/")),
      "the probe sees npm modules"
    )
    assert.deepStrictEqual(loaded.filter(isPglite), [])
  })

  it('"@agg/storage/pglite" loads PGlite', async () => {
    const { exports, loaded } = await loadedBy("@agg/storage/pglite")
    assert.includeMembers([...exports], ["layerPglite", "makePgliteKysely"])
    assert.isTrue(loaded.some(isPglite))
  })
})
