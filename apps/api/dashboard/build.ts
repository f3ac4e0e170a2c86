/**
 * Builds the dashboard's browser assets with esbuild into `dist/dashboard/`: one minified ES module
 * (`dashboard-<hash>.js`: the page's code, uPlot and @agg/client bundled from source) and its stylesheet
 * (`dashboard-<hash>.css`), plus `manifest.json` naming both, which `routes/Dashboard.ts` reads to write the page.
 * Content-hashed names let the server mark them immutable. Run by the package's `build` script (after tsup,
 * which cleans dist/) and by the browser test; does not serve anything.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

/** The names of the built files, relative to the output directory. */
export interface DashboardManifest {
  readonly js: string
  readonly css: string
}

const here = dirname(fileURLToPath(import.meta.url))

/** Where the server looks for the assets: `dist/dashboard` of this package. */
export const defaultOutDir = join(here, "..", "dist", "dashboard")

/**
 * Build into `outDir` and return the manifest it wrote. The files are written beside it first and then swapped in
 * whole, so a server starting meanwhile (another test file) reads the old set or the new one, not half of each.
 */
export const buildDashboard = async (outDir: string = defaultOutDir): Promise<DashboardManifest> => {
  const parent = dirname(outDir)
  mkdirSync(parent, { recursive: true })
  const staging = mkdtempSync(join(parent, ".dashboard-"))
  try {
    const manifest = await buildInto(staging)
    const old = `${staging}-old`
    if (existsSync(outDir)) renameSync(outDir, old)
    renameSync(staging, outDir)
    rmSync(old, { recursive: true, force: true })
    return manifest
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

const buildInto = async (dir: string): Promise<DashboardManifest> => {
  const result = await build({
    entryPoints: [join(here, "main.ts")],
    outdir: dir,
    entryNames: "dashboard-[hash]",
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    // Workspace packages from their sources, as the apps are bundled.
    conditions: ["@agg/source"],
    metafile: true,
    legalComments: "none",
    logLevel: "warning"
  })
  const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path))
  const js = outputs.find((name) => name.endsWith(".js"))
  const css = outputs.find((name) => name.endsWith(".css"))
  if (js === undefined || css === undefined)
    throw new Error(`dashboard build: unexpected outputs ${outputs.join(", ")}`)
  const manifest = { js, css } satisfies DashboardManifest
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest))
  return manifest
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const manifest = await buildDashboard()
  process.stdout.write(`dashboard: ${manifest.js}, ${manifest.css}\n`)
}
