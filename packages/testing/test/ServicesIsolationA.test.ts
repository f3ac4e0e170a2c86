// Runs in parallel with ServicesIsolationB.test.ts: same table and key names, own database and prefix.
import { isolationSuite } from "./isolationScenario.ts"

await isolationSuite("file-A")
