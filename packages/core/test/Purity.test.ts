/**
 * @agg/core must stay pure (it is imported by other services): its sources may import only effect, @agg/schema and
 * each other. This scans every import/export specifier under src/ and fails on anything else (drivers, node:*, HTTP,
 * ...).
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { assert, describe, it } from "@effect/vitest"

const SRC = join(import.meta.dirname, "..", "src")
const ALLOWED = [/^effect(\/|$)/, /^@agg\/schema$/, /^\.\.?\//]
const SPECIFIER =
  /(?:^|\s)(?:import|export)\s[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : []
  )

const importsOf = (code: string): Array<string> => [...code.matchAll(SPECIFIER)].map((m) => (m[1] ?? m[2] ?? m[3])!)

describe("core purity", () => {
  it("the scanner sees every import form", () => {
    const code = `import pg from "pg"\nimport type { X } from "kysely"\nexport * from "node:fs"\nimport "redis"\nconst m = await import("@electric-sql/pglite")`
    assert.deepStrictEqual(importsOf(code), ["pg", "kysely", "node:fs", "redis", "@electric-sql/pglite"])
  })

  it("src imports only effect, @agg/schema and its own modules", () => {
    const files = sources(SRC)
    assert.isAbove(files.length, 10)
    const all = files.map((file) => [file, importsOf(readFileSync(file, "utf8"))] as const)
    assert.isAbove(all.flatMap(([, specs]) => specs).length, 20, "the scanner found the imports")
    const bad = all.flatMap(([file, specs]) =>
      specs
        .filter((spec) => !ALLOWED.some((re) => re.test(spec)))
        .map((spec) => `${relative(SRC, file)} imports ${spec}`)
    )
    assert.deepStrictEqual(bad, [])
  })
})
