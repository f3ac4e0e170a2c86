// Runs in parallel with ServicesIsolationA.test.ts: same table and key names, own database and prefix.
import { it } from "vitest"
import {
  checkPostgres,
  checkRedis,
  describeWithServices,
  useRedisPrefix,
  useTestDatabase
} from "../src/TestServices.ts"
import { postgresScenario, redisScenario } from "./isolationScenario.ts"

const TAG = "file-B"
const [postgres, redis] = await Promise.all([checkPostgres(), checkRedis()])

describeWithServices("isolation, file B", [postgres, redis], () => {
  const db = useTestDatabase()
  const keys = useRedisPrefix()

  it("sees only its own rows in a table named like the other file's", async () => {
    await postgresScenario(db().url, db().name, TAG)
  })

  it("sees only its own keys under names like the other file's", async () => {
    await redisScenario(keys.url, keys.prefix, TAG)
  })
})
