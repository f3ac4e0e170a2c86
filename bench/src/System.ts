/**
 * Starting the system under test as separate processes, the way it is deployed: the built api
 * (`apps/api/dist/main.js`) in embedded or queued mode, worker replicas (`apps/worker/dist/main.js`), and the
 * parse-only comparison servers of `src/http/servers.ts`. api and workers run with the Node flags of their start
 * scripts (`deployedNodeArgs`), as the image runs them. With `profileDir` set, they also run under
 * `node --cpu-prof` and write `<name>.cpuprofile` there when they exit.
 *
 * @remarks Needs a build (`pnpm bench` runs `turbo run build` first). Readiness: the api when GET /health is 200,
 * a worker when it logged "worker started" (Redis 7.0 registers a consumer only once it was delivered an entry, so
 * the group's consumer count cannot tell).
 */
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { freePort } from "@agg/testing/Ports"
import { ApiClient } from "./ApiClient.ts"
import { type Child, startNode, waitReady } from "./Children.ts"

const repoFile = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url))

export const API_MAIN = repoFile("apps/api/dist/main.js")
export const WORKER_MAIN = repoFile("apps/worker/dist/main.js")
export const SERVERS_MAIN = repoFile("bench/src/http/servers.ts")

/** Fail early, with the fix, when an app was not built. */
export const requireBuilt = (path: string): void => {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`pnpm build\` (or \`pnpm bench\`, which builds)`)
}

/**
 * The Node flags `app` is deployed with: the words between `node` and the bundle of its package.json "start"
 * script, which the Dockerfile's command repeats (packages/testing/test/Deployment.test.ts holds them equal). The
 * api and workers get them first, so the bench measures the processes as deployed (their heap bounds set the peak
 * RSS) and a `--node-arg` given after them overrides one (V8 takes the last; `=0` restores V8's default).
 */
export const deployedNodeArgs = (app: "api" | "worker"): Array<string> => {
  const path = repoFile(`apps/${app}/package.json`)
  const start = (JSON.parse(readFileSync(path, "utf8")) as { scripts?: Record<string, string> }).scripts?.["start"]
  const words = start?.trim().split(/\s+/) ?? []
  if (words[0] !== "node" || words.length < 2) {
    throw new Error(`${path}: "start" must be "node [flags] <bundle>", got ${JSON.stringify(start)}`)
  }
  return words.slice(1, -1)
}

const profileArgs = (profileDir: string | undefined, name: string): Array<string> =>
  profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-name", `${name}.cpuprofile`]

export interface RunningApi {
  readonly child: Child
  readonly client: ApiClient
  readonly url: string
}

export type ApiMode =
  | { readonly mode: "embedded"; readonly dataDir: string }
  | { readonly mode: "queued"; readonly databaseUrl: string; readonly redisUrl: string; readonly streamKey: string }

/** Start the api on a free port of 127.0.0.1 and wait for GET /health == 200. */
export const startApi = async (options: {
  readonly name: string
  /** The api entry to run (default: the built apps/api). */
  readonly script?: string | undefined
  /** Node flags after the deployed ones (`deployedNodeArgs`), e.g. `--max-semi-space-size=16`. */
  readonly nodeArgs?: ReadonlyArray<string>
  readonly config: ApiMode
  readonly profileDir?: string | undefined
  readonly env?: Readonly<Record<string, string>>
}): Promise<RunningApi> => {
  const script = options.script ?? API_MAIN
  requireBuilt(script)
  const port = await freePort()
  const { config } = options
  // the parent's DATABASE_URL/REDIS_URL must not leak into embedded mode: unset them there
  const modeEnv: Record<string, string | undefined> =
    config.mode === "embedded"
      ? { DATA_DIR: config.dataDir, DATABASE_URL: undefined, REDIS_URL: undefined }
      : { DATABASE_URL: config.databaseUrl, REDIS_URL: config.redisUrl, STREAM_KEY: config.streamKey }
  const child = startNode({
    name: options.name,
    script,
    nodeArgs: [
      ...deployedNodeArgs("api"),
      ...(options.nodeArgs ?? []),
      ...profileArgs(options.profileDir, options.name)
    ],
    env: { ...modeEnv, ...options.env, PORT: String(port), HOST: "127.0.0.1" }
  })
  const url = `http://127.0.0.1:${port}`
  const client = new ApiClient(url)
  await waitReady(child, () => client.healthy())
  return { child, client, url }
}

/**
 * Start `count` workers on the run's stream and database; wait until each logged "worker started" (it does so
 * once connected, migrated and in its consumer group).
 */
export const startWorkers = async (options: {
  readonly count: number
  /** The worker entry to run (default: the built apps/worker). */
  readonly script?: string | undefined
  /** Node flags after the deployed ones (`deployedNodeArgs`), e.g. `--max-semi-space-size=16`. */
  readonly nodeArgs?: ReadonlyArray<string>
  readonly databaseUrl: string
  readonly redisUrl: string
  readonly streamKey: string
  readonly profileDir?: string | undefined
  readonly env?: Readonly<Record<string, string>>
  readonly namePrefix?: string
}): Promise<Array<Child>> => {
  const script = options.script ?? WORKER_MAIN
  requireBuilt(script)
  const workers = Array.from({ length: options.count }, (_, i) => {
    const name = `${options.namePrefix ?? "worker"}-${i + 1}`
    let started = false
    const child = startNode({
      name,
      script,
      nodeArgs: [...deployedNodeArgs("worker"), ...(options.nodeArgs ?? []), ...profileArgs(options.profileDir, name)],
      env: {
        DATABASE_URL: options.databaseUrl,
        REDIS_URL: options.redisUrl,
        STREAM_KEY: options.streamKey,
        WORKER_CONSUMER: name,
        ...options.env
      },
      onLine: (line) => {
        if (line.includes("worker started")) started = true
      }
    })
    return { child, ready: async () => started }
  })
  for (const worker of workers) await waitReady(worker.child, worker.ready)
  return workers.map((w) => w.child)
}

/** Start one parse-only server of src/http/servers.ts; it prints `{"port":n}` once listening. */
export const startParseServer = async (kind: string): Promise<{ child: Child; url: string }> => {
  let port: number | undefined
  const child = startNode({
    name: `parse-only ${kind}`,
    script: SERVERS_MAIN,
    args: [kind],
    onLine: (line) => {
      if (line.startsWith("{")) port = (JSON.parse(line) as { port?: number }).port
    }
  })
  await waitReady(child, async () => port !== undefined)
  return { child, url: `http://127.0.0.1:${port}` }
}
