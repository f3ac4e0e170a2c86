/**
 * The one tsup configuration of the workspace: each package's tsup.config.ts calls `library` or `app` with its
 * entries. ESM for Node 22+, source maps, dist/ cleaned first; declarations come from `tsc -p tsconfig.build.json`
 * (tsup's dts is off).
 *
 * Deliberately not here: per-package options beyond the entries. A package that needs one adds it here for every
 * package of its kind, so the builds stay alike.
 */
// Type-only: the preset sits outside every package, where "tsup" does not resolve at run time.
import type { Options } from "tsup"

const common = {
  format: ["esm"],
  target: "node22",
  platform: "node",
  sourcemap: true,
  clean: true,
  dts: false
} satisfies Options

/** A workspace library: its own code only; workspace and npm dependencies stay imports. */
export const library = (entry: ReadonlyArray<string>): Options => ({ ...common, entry: [...entry] })

/**
 * An app: one self-contained file per entry. Workspace packages are bundled from source (the "@agg/source" export
 * condition); npm packages stay imports, resolved from the app's own dependencies (what `pnpm deploy` installs).
 */
export const app = (entry: ReadonlyArray<string>): Options => ({
  ...common,
  entry: [...entry],
  noExternal: [/^@agg\//],
  esbuildOptions: (options) => {
    options.conditions = ["@agg/source"]
  }
})
