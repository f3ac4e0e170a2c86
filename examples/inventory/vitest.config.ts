import { defineProject } from "vitest/config"
import shared from "../../vitest.shared.ts"

// The test runs the service as real processes on the shared servers: generous timeouts on a busy machine.
export default defineProject({ ...shared, test: { ...shared.test, testTimeout: 180_000 } })
