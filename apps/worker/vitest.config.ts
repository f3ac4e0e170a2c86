import { defineProject } from "vitest/config"
import shared from "../../vitest.shared.ts"

// The e2e files each start an api and several workers as real processes: run the files one at a time so they do
// not compete for the two cores (and time out) and so one file's crash scenarios cannot disturb another's timing.
export default defineProject({
  ...shared,
  test: { ...shared.test, fileParallelism: false, testTimeout: 180_000, hookTimeout: 60_000 }
})
