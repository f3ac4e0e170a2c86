import { defineConfig } from "tsup"

export default defineConfig({
  entry: ["src/main.ts"],
  format: ["esm"],
  target: "node22",
  platform: "node",
  sourcemap: true,
  clean: true,
  dts: false,
  // apps ship one self-contained file per entry: workspace packages are bundled from source
  noExternal: [/^@agg\//],
  esbuildOptions: (options) => {
    options.conditions = ["@agg/source"]
  }
})
