/**
 * The deployment checked statically (there is no Docker engine to run the images): parses docker-compose.yml, the
 * root Dockerfile once per app (`--build-arg APP=<app>`), .env.example and .dockerignore, and asserts the deployment
 * properties — stores on an internal network with no published port, Redis AOF and noeviction, named volumes, health
 * checks behind every `service_healthy`, the api as the only published port, scalable workers, the publisher behind a
 * profile, no credentials in the compose file, multi-stage non-root images that run exactly the app's `start`
 * script (its Node flags included).
 *
 * Deliberately not here: building or running anything (scripts/docker-rehearsal.sh repeats the image builds without
 * Docker) and full Dockerfile or Compose grammar: the small parser below reads what these files use.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const read = (path: string) => readFileSync(join(root, path), "utf8")

// ── Dockerfile ──────────────────────────────────────────────────────────────────────────────────────────────────

interface Instruction {
  readonly keyword: string
  readonly args: string
}
interface Stage {
  readonly name: string | undefined
  /** The base image with the global ARG defaults substituted. */
  readonly image: string
  readonly instructions: Array<Instruction>
}
interface Dockerfile {
  /** The ARGs before the first FROM: their defaults, overridden by the build args. */
  readonly globalArgs: ReadonlyMap<string, string>
  readonly stages: ReadonlyArray<Stage>
}

/** Instructions with `\` continuations joined and comment lines dropped (also inside a continuation). */
const instructions = (text: string): Array<Instruction> => {
  const out: Array<Instruction> = []
  let pending = ""
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    if (line.startsWith("#") || (line === "" && pending === "")) continue
    const continued = line.endsWith("\\")
    pending += `${continued ? line.slice(0, -1) : line} `
    if (continued) continue
    const match = /^(\S+)\s*(.*)$/s.exec(pending.trim())
    if (match !== null) out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim() })
    pending = ""
  }
  return out
}

/** `buildArgs` as `docker build --build-arg`: they override the global defaults and are substituted in every stage. */
const parseDockerfile = (text: string, buildArgs: Readonly<Record<string, string>> = {}): Dockerfile => {
  const globalArgs = new Map<string, string>()
  const stages: Array<Stage> = []
  const substituted = (args: string) =>
    args.replace(/\$\{(\w+)\}/g, (whole, arg: string) => (Object.hasOwn(buildArgs, arg) ? buildArgs[arg]! : whole))
  for (const raw of instructions(text)) {
    const instruction = { keyword: raw.keyword, args: substituted(raw.args) }
    if (instruction.keyword === "FROM") {
      const [image = "", as, name] = instruction.args.split(/\s+/)
      const resolved = image.replace(/\$\{(\w+)\}/g, (_, arg: string) => globalArgs.get(arg) ?? "")
      stages.push({ name: as?.toUpperCase() === "AS" ? name : undefined, image: resolved, instructions: [] })
    } else if (stages.length === 0) {
      if (instruction.keyword === "ARG") {
        const [key = "", value = ""] = instruction.args.split("=", 2)
        globalArgs.set(key, buildArgs[key] ?? value)
      }
    } else {
      stages.at(-1)!.instructions.push(instruction)
    }
  }
  return { globalArgs, stages }
}

const all = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args)
const allRuns = (file: Dockerfile) => file.stages.flatMap((stage) => all(stage, "RUN"))
/** Exec-form (JSON array) CMD/ENTRYPOINT arguments of a stage, in run order: entrypoint first. */
const execForm = (stage: Stage, keyword: "CMD" | "ENTRYPOINT"): Array<string> => {
  const last = all(stage, keyword).at(-1)
  if (last === undefined) return []
  const parsed: unknown = JSON.parse(last)
  if (!Array.isArray(parsed)) throw new Error(`${keyword} must use the exec (JSON array) form, got ${last}`)
  return parsed.map(String)
}

// ── the repository ──────────────────────────────────────────────────────────────────────────────────────────────

const apps = readdirSync(join(root, "apps"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, "apps", entry.name, "package.json")))
  .map((entry) => entry.name)
  .sort()

interface PackageJson {
  readonly name: string
  readonly scripts?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly packageManager?: string
}
const packageJson = (path: string) => JSON.parse(read(path)) as PackageJson
/** An app's "start" script, which must be `node [flags] <bundle>`: its flags and its bundle. */
const startCommand = (app: string): { readonly flags: Array<string>; readonly bundle: string } => {
  const start = packageJson(`apps/${app}/package.json`).scripts?.["start"] ?? ""
  const words = start.trim().split(/\s+/)
  const bundle = words.at(-1) ?? ""
  const flags = words.slice(1, -1)
  if (words[0] !== "node" || !/\.[cm]?js$/.test(bundle) || flags.some((flag) => !flag.startsWith("--"))) {
    throw new Error(`apps/${app}/package.json "start" must be "node [--flag …] <bundle>.js", got "${start}"`)
  }
  return { flags, bundle }
}
/** Every workspace package by name (apps/*, packages/*, bench), from pnpm-workspace.yaml's globs of one level. */
const workspacePackages = new Map(
  ["apps", "packages", "bench"].flatMap((dir) => {
    const candidates = dir === "bench" ? ["bench"] : readdirSync(join(root, dir)).map((name) => `${dir}/${name}`)
    return candidates
      .filter((path) => existsSync(join(root, path, "package.json")))
      .map((path) => {
        const pkg = packageJson(`${path}/package.json`)
        return [pkg.name, pkg] as const
      })
  })
)
/** The npm packages that the workspace packages an app bundles depend on at run time (transitively through @agg/*). */
const bundledWorkspaceImports = (pkg: PackageJson): Set<string> => {
  const seen = new Set<string>()
  const imports = new Set<string>()
  const visit = (dependencies: Record<string, string> | undefined) => {
    for (const name of Object.keys(dependencies ?? {})) {
      if (!name.startsWith("@agg/")) continue
      if (seen.has(name)) continue
      seen.add(name)
      const dependency = workspacePackages.get(name)
      if (dependency === undefined) throw new Error(`${pkg.name} depends on ${name}, not in the workspace`)
      for (const external of Object.keys(dependency.dependencies ?? {}))
        if (!external.startsWith("@agg/")) imports.add(external)
      visit(dependency.dependencies)
    }
  }
  visit(pkg.dependencies)
  return imports
}
const workspace = parse(read("pnpm-workspace.yaml")) as { catalog: Record<string, string> }

interface Service {
  readonly image?: string
  readonly build?: {
    readonly context?: string
    readonly dockerfile?: string
    readonly args?: Readonly<Record<string, string>>
  }
  readonly command?: string | Array<string>
  readonly entrypoint?: string | Array<string>
  readonly environment?: Record<string, string | null> | Array<string>
  readonly ports?: Array<unknown>
  readonly networks?: Array<string> | Record<string, unknown>
  readonly network_mode?: string
  readonly volumes?: Array<string | { type?: string; source?: string; target?: string }>
  readonly healthcheck?: { readonly test?: string | Array<string>; readonly disable?: boolean }
  readonly depends_on?: Array<string> | Record<string, { readonly condition?: string }>
  readonly profiles?: Array<string>
  readonly container_name?: string
  readonly hostname?: string
  readonly mem_limit?: string
  readonly configs?: Array<string | { readonly source?: string; readonly target?: string }>
}
const composeText = read("docker-compose.yml")
const compose = parse(composeText) as {
  services: Record<string, Service>
  networks?: Record<string, { internal?: boolean } | null>
  volumes?: Record<string, unknown>
  configs?: Record<string, { readonly content?: string; readonly file?: string }>
}
const service = (name: string): Service => {
  const found = compose.services[name]
  if (found === undefined) throw new Error(`docker-compose.yml has no service "${name}"`)
  return found
}
const networksOf = (s: Service) => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {}))
const isInternal = (network: string) => compose.networks?.[network]?.internal === true
const argv = (value: string | Array<string> | undefined) =>
  value === undefined ? [] : Array.isArray(value) ? value.map(String) : value.split(/\s+/)
/** Environment as name → value; `null` is a bare name, passed through from .env or the shell when set there. */
const environment = (s: Service): Record<string, string | null> => {
  const env = s.environment ?? {}
  if (!Array.isArray(env)) return env
  return Object.fromEntries(
    env.map((e) => (e.includes("=") ? [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)] : [e, null]))
  )
}
const dependsOn = (s: Service): Record<string, string | undefined> => {
  const deps = s.depends_on ?? {}
  return Array.isArray(deps)
    ? Object.fromEntries(deps.map((d) => [d, undefined]))
    : Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v.condition]))
}
const volumeSourceAndTarget = (volume: string | { source?: string; target?: string }) =>
  typeof volume === "string" ? volume.split(":") : [volume.source ?? "", volume.target ?? ""]
const dockerfileOf = (app: string) => parseDockerfile(read("Dockerfile"), { APP: app })
/**
 * The image's last stage, with the instructions of the stages it is built FROM (first to last), the base image
 * that chain starts from and the name of its last named stage.
 */
const finalStage = (file: Dockerfile): Stage => {
  const chain: Array<Stage> = []
  let stage: Stage | undefined = file.stages.at(-1)!
  while (stage !== undefined && !chain.includes(stage)) {
    chain.unshift(stage)
    const base: string = stage.image
    stage = file.stages.find((s) => s.name !== undefined && s.name === base)
  }
  const name = chain.findLast((s) => s.name !== undefined)?.name
  return { name, image: chain[0]!.image, instructions: chain.flatMap((s) => s.instructions) }
}

// ── Dockerfiles ─────────────────────────────────────────────────────────────────────────────────────────────────

describe("Dockerfiles", () => {
  it("finds the apps", () => {
    expect(apps).toEqual(expect.arrayContaining(["api", "publisher", "worker"]))
  })

  it("the Dockerfile has a stage for every app, the one it ends in with APP=<app>", () => {
    expect(apps.filter((app) => !dockerfileOf(app).stages.some((stage) => stage.name === app))).toEqual([])
    for (const app of apps) expect(finalStage(dockerfileOf(app)).name).toBe(app)
  })

  describe.each(apps)("the Dockerfile with APP=%s", (app) => {
    const file = dockerfileOf(app)
    const pkg = packageJson(`apps/${app}/package.json`)
    const runtime = finalStage(file)

    it("is multi-stage and builds from a pruned workspace with the pinned toolchain", () => {
      expect(file.stages.length).toBeGreaterThanOrEqual(2)
      const runs = allRuns(file).join("\n")
      expect(runs).toContain(`turbo prune ${pkg.name} --docker`)
      expect(runs).toMatch(/pnpm install [^\n]*--frozen-lockfile/)
      expect(runs).toContain(`turbo run build --filter=${pkg.name}`)
      expect(runs).toMatch(new RegExp(`pnpm --filter ${pkg.name} deploy --prod `))
      expect(file.globalArgs.get("PNPM_VERSION")).toBe(packageJson("package.json").packageManager?.split("@")[1])
      expect(file.globalArgs.get("TURBO_VERSION")).toBe(workspace.catalog["turbo"])
    })

    it("runs on Node 24 with NODE_ENV=production", () => {
      expect(runtime.image).toMatch(/^node:24(-|$)/)
      expect(all(runtime, "ENV").join(" ")).toMatch(/(^|\s)NODE_ENV=production(\s|$)/)
    })

    it("runs as a non-root user in the final stage", () => {
      const user = all(runtime, "USER").at(-1)
      expect(user, "the final stage needs a USER").toBeDefined()
      expect(user!.split(":")[0]).not.toMatch(/^(root|0)$/)
    })

    it("ships only the production deploy: no install, no sources, no dev dependencies", () => {
      const runs = all(runtime, "RUN").join("\n")
      expect(runs).not.toMatch(/\b(pnpm|npm|yarn|turbo)\b/)
      const copies = all(runtime, "COPY")
      expect(copies.length).toBeGreaterThan(0)
      for (const copy of copies) expect(copy).toMatch(/^(--\S+\s+)*--from=build\s+\/deploy\/\S*\s+\S+$/)
    })

    // The image runs the start script word for word, Node flags included: the heap bounds the bench measured
    // under (it launches the apps with the start script's flags) are the ones deployed. Only
    // --enable-source-maps, which changes nothing but stack traces, the image may add (the publisher's does).
    it("runs the package's start script: node, the same flags, the bundle", () => {
      const start = startCommand(app)
      const command = [...execForm(runtime, "ENTRYPOINT"), ...execForm(runtime, "CMD")]
      const upToBundle = command.slice(0, command.indexOf(start.bundle) + 1)
      const flagsOf = (words: ReadonlyArray<string>) => words.filter((w) => w !== "--enable-source-maps")
      expect(upToBundle, `the image never runs ${start.bundle}`).toContain(start.bundle)
      expect(flagsOf(upToBundle)).toEqual(flagsOf(["node", ...start.flags, start.bundle]))
    })

    // tsup bundles @agg/* from source and every npm package the app does not list (pg bundled into ESM dies with
    // "Dynamic require of events"; PGlite loses its wasm), while `pnpm deploy` links only the app's own dependencies.
    it("lists every npm package its bundled workspace packages need, so the bundle finds it in node_modules", () => {
      const missing = [...bundledWorkspaceImports(pkg)].filter((name) => pkg.dependencies?.[name] === undefined).sort()
      expect(missing, `add to apps/${app}/package.json "dependencies" (as "catalog:")`).toEqual([])
    })
  })

  // Without limits V8 lets a 50 MB live heap grow to 300+ MB of young and old space before it collects; the
  // bounds keep the api and each worker under 200 MB of RSS in the bench's drains.
  it("the api and the worker run with the same Node heap bounds (young and old space)", () => {
    const { flags } = startCommand("api")
    expect(flags).toEqual(expect.arrayContaining([expect.stringMatching(/^--max-semi-space-size=\d+$/)]))
    expect(flags).toEqual(expect.arrayContaining([expect.stringMatching(/^--max-old-space-size=\d+$/)]))
    expect(startCommand("worker").flags).toEqual(flags)
  })

  it("the root start script runs the api as its own start script does", () => {
    const api = startCommand("api")
    const root = packageJson("package.json").scripts?.["start"] ?? ""
    expect(root.split("&&").at(-1)?.trim()).toBe(["node", ...api.flags, `apps/api/${api.bundle}`].join(" "))
  })

  it("the api image has a HEALTHCHECK on GET /health and exposes 8080", () => {
    const runtime = finalStage(dockerfileOf("api"))
    const healthcheck = all(runtime, "HEALTHCHECK")
    expect(healthcheck).toHaveLength(1)
    expect(healthcheck[0]).toMatch(/CMD .*\/health/)
    expect(all(runtime, "EXPOSE")).toContain("8080")
  })

  it(".dockerignore keeps host installs, builds, secrets and history out of the build context", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
    expect(ignored).toEqual(expect.arrayContaining(["**/node_modules", "**/dist", ".env", ".git"]))
  })
})

// ── docker-compose.yml ──────────────────────────────────────────────────────────────────────────────────────────

describe("docker-compose.yml", () => {
  const stores = ["postgres", "redis"] as const

  it("runs PostgreSQL 16 or 17 and Redis 7 or later", () => {
    expect(service("postgres").image).toMatch(/^postgres:1[67]([.-]|$)/)
    expect(service("redis").image).toMatch(/^redis:([7-9]|[1-9]\d)([.-]|$)/)
  })

  it.each(stores)("%s is on internal networks only, with no published port", (name) => {
    const s = service(name)
    expect(s.ports).toBeUndefined()
    expect(s.network_mode).toBeUndefined()
    expect(networksOf(s).length).toBeGreaterThan(0)
    for (const network of networksOf(s)) expect(isInternal(network), `network ${network} must be internal`).toBe(true)
  })

  it.each([
    ["postgres", "/var/lib/postgresql/data"],
    ["redis", "/data"]
  ])("%s keeps its data in a named volume at %s", (name, path) => {
    const mounts = (service(name).volumes ?? []).map(volumeSourceAndTarget)
    const mount = mounts.find(([, target]) => target === path)
    expect(mount, `${name} must mount a volume at ${path}`).toBeDefined()
    expect(Object.keys(compose.volumes ?? {})).toContain(mount![0])
  })

  it.each(stores)("%s has a health check", (name) => {
    const healthcheck = service(name).healthcheck
    expect(healthcheck?.disable).not.toBe(true)
    expect(argv(healthcheck?.test).length).toBeGreaterThan(0)
  })

  it("Redis appends every write to its AOF, fsynced before it answers, and never evicts", () => {
    const command = argv(service("redis").command).join(" ")
    expect(command).toMatch(/--appendonly yes\b/)
    expect(command).toMatch(/--appendfsync always\b/)
    expect(command).toMatch(/--maxmemory-policy noeviction\b/)
  })

  it("Redis takes its password from an ACL file (a compose config), never from its command line", () => {
    const redis = service("redis")
    const command = argv(redis.command)
    expect(command.join(" ")).not.toMatch(/requirepass|REDIS_PASSWORD/)
    const aclfile = command[command.indexOf("--aclfile") + 1]
    expect(command, "redis-server --aclfile <path>").toContain("--aclfile")
    const mounted = (redis.configs ?? []).find((c) => typeof c === "object" && c.target === aclfile)
    expect(mounted, `a config mounted at ${aclfile}`).toBeDefined()
    const content = compose.configs?.[(mounted as { source: string }).source]?.content ?? ""
    expect(content).toMatch(/^user default on >\$\{REDIS_PASSWORD:\?[^}]*\} /m)
  })

  // Parsed as compose does ("512m", "1g"), in bytes.
  const bytes = (size: string | undefined) => {
    const m = /^(\d+)([kmg]?)b?$/i.exec(size ?? "")
    return m === null ? Number.NaN : Number(m[1]) * 1024 ** "_kmg".indexOf((m[2] || "_").toLowerCase())
  }

  it("every long-running service has a memory limit, and Redis refuses writes before it reaches its own", () => {
    for (const name of ["postgres", "redis", "api", "worker"]) {
      expect(bytes(service(name).mem_limit), `${name} needs a mem_limit`).toBeGreaterThan(0)
    }
    const command = argv(service("redis").command)
    const maxmemory = bytes(command[command.indexOf("--maxmemory") + 1])
    expect(command).toContain("--maxmemory")
    expect(maxmemory).toBeLessThan(bytes(service("redis").mem_limit))
  })

  it("the api is the only service publishing a port, 8080, and bridges the internal network", () => {
    const publishing = Object.entries(compose.services)
      .filter(([, s]) => (s.ports ?? []).length > 0 || s.network_mode === "host")
      .map(([name]) => name)
    expect(publishing).toEqual(["api"])
    const ports = service("api").ports ?? []
    expect(ports).toHaveLength(1)
    expect(String(ports[0])).toMatch(/:8080$/)
    const networks = networksOf(service("api"))
    expect(networks.some(isInternal)).toBe(true)
    expect(networks.some((n) => !isInternal(n))).toBe(true)
  })

  it("the api starts once PostgreSQL and Redis are healthy", () => {
    expect(dependsOn(service("api"))).toMatchObject({ postgres: "service_healthy", redis: "service_healthy" })
  })

  it("every service_healthy dependency has a health check, in compose or in its image", () => {
    const healthy = (name: string) => {
      const s = service(name)
      if (s.healthcheck?.disable === true) return false
      if (s.healthcheck?.test !== undefined) return true
      const dockerfile = s.build?.dockerfile
      if (dockerfile === undefined) return false
      return all(finalStage(parseDockerfile(read(dockerfile), s.build?.args)), "HEALTHCHECK").length > 0
    }
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dependency, condition] of Object.entries(dependsOn(s))) {
        expect(compose.services[dependency], `${name} depends on unknown ${dependency}`).toBeDefined()
        if (condition === "service_healthy") expect(healthy(dependency), `${name} waits on ${dependency}`).toBe(true)
      }
    }
  })

  it("builds every app from the repository root with the Dockerfile and APP=<app>", () => {
    for (const app of apps) {
      expect(service(app).build).toEqual({ context: ".", dockerfile: "Dockerfile", args: { APP: app } })
    }
  })

  it("workers scale: no fixed container name, hostname or consumer name", () => {
    const worker = service("worker")
    expect(worker.container_name).toBeUndefined()
    expect(worker.hostname).toBeUndefined()
    expect(worker.ports).toBeUndefined()
    expect(Object.keys(environment(worker))).not.toContain("WORKER_CONSUMER")
  })

  it("the publisher is optional (a profile) and targets the api over a shared network", () => {
    const publisher = service("publisher")
    expect(publisher.profiles).toContain("publisher")
    expect([...argv(publisher.entrypoint), ...argv(publisher.command)].join(" ")).toContain("--url http://api:8080")
    expect(networksOf(publisher).some((n) => networksOf(service("api")).includes(n))).toBe(true)
  })

  it("hard-codes no credentials: passwords and URLs with passwords come from .env", () => {
    const strings: Array<[path: string, value: string]> = []
    const walk = (value: unknown, path: string): void => {
      if (typeof value === "string") strings.push([path, value])
      else if (Array.isArray(value)) for (const [i, v] of value.entries()) walk(v, `${path}[${i}]`)
      else if (value !== null && typeof value === "object")
        for (const [k, v] of Object.entries(value)) walk(v, path === "" ? k : `${path}.${k}`)
    }
    walk(compose, "")
    // Interpolations become one placeholder, so a URL's password must be exactly one `${…}`.
    const masked = (value: string) => value.replace(/\$\{[^}]*\}/g, "§")
    let urlsWithPassword = 0
    for (const [path, value] of strings) {
      const password = /:\/\/[^/\s:@]*:([^@\s]+)@/.exec(masked(value))?.[1]
      if (password !== undefined) {
        urlsWithPassword++
        expect(password, path).toBe("§")
      }
      if (/(PASSWORD|SECRET|TOKEN|API_KEYS|AUTH)$/.test(path.split(".").at(-1) ?? ""))
        expect(masked(value), path).toBe("§")
    }
    expect(urlsWithPassword, "DATABASE_URL and REDIS_URL carry passwords").toBeGreaterThanOrEqual(2)
    expect(environment(service("postgres"))["POSTGRES_PASSWORD"]).toMatch(/^\$\{POSTGRES_PASSWORD:\?/)
  })
})

// ── .env.example ────────────────────────────────────────────────────────────────────────────────────────────────

describe(".env.example", () => {
  const documented = new Set([...read(".env.example").matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!))

  it("documents every variable docker-compose.yml interpolates or passes through", () => {
    // `$${X}` is compose's escape for a literal `${X}` evaluated inside the container, not an interpolation.
    const interpolated = [...composeText.matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!)
    const passedThrough = Object.values(compose.services).flatMap((s) =>
      Object.entries(environment(s))
        .filter(([, v]) => v === null)
        .map(([k]) => k)
    )
    expect(interpolated.length).toBeGreaterThan(0)
    expect([...new Set([...interpolated, ...passedThrough])].filter((v) => !documented.has(v))).toEqual([])
  })

  it("documents every variable of the api and of the worker", () => {
    const spec = ["PORT", "HOST", "DATABASE_URL", "DATA_DIR", "REDIS_URL", "STREAM_KEY", "API_KEYS", "LOG_LEVEL"]
    const worker = [
      "WORKER_BATCH_SIZE",
      "WORKER_BLOCK_MS",
      "WORKER_RECLAIM_IDLE_MS",
      "WORKER_MAX_DELIVERIES",
      "WORKER_CONSUMER",
      "WORKER_METRICS_PORT"
    ]
    expect([...spec, ...worker].filter((v) => !documented.has(v))).toEqual([])
  })

  it("sets no credential", () => {
    const assigned = [...read(".env.example").matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)]
    for (const [, name, value] of assigned) {
      if (/PASSWORD|SECRET|TOKEN|KEYS/.test(name!)) expect(value, name).toBe("")
    }
  })
})
