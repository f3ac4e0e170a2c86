// Shared vitest settings. Tests run from source, never from dist/: the "@agg/source" export condition
// (also in tsconfig customConditions) points every workspace import at src/*.ts.
import type { UserConfig } from "vitest/config"

const conditions = ["@agg/source", "module", "node", "development|production"]

export default {
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
} satisfies UserConfig
