/**
 * A tiny summariser of V8 `.cpuprofile` files (written by `node --cpu-prof`, e.g. by `pnpm bench --profile`):
 * self time per function and per package, idle and GC shares. Usage:
 *
 *   node bench/src/profile.ts <file.cpuprofile | directory> [--top 25]
 *
 * Frames in bundled files that have a source map beside them (`dist/main.js.map`) are shown at their source
 * position (`packages/core/src/Ingest.ts:42`), so app code is attributed to the workspace package it came from.
 *
 * @remarks Self time only (where the CPU was, not who called it). Open the file in Chrome DevTools for call trees.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { SourceMap } from "node:module"
import { basename, join } from "node:path"
import { parseArgs } from "node:util"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber?: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}
/** The parts of the `.cpuprofile` JSON this reads. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface FunctionTime {
  readonly functionName: string
  readonly location: string
  readonly selfMs: number
  /** Share of the non-idle sampled time. */
  readonly share: number
}

export interface ProfileSummary {
  readonly name: string
  /** All sampled time, idle included. */
  readonly totalMs: number
  readonly idleShare: number
  /** Garbage collector share of the non-idle time. */
  readonly gcShare: number
  readonly top: ReadonlyArray<FunctionTime>
  /** Self time per package (or "node:internal", "app", "(program)"…), share of non-idle time. */
  readonly packages: ReadonlyArray<{ readonly name: string; readonly selfMs: number; readonly share: number }>
}

/** `…/node_modules/.pnpm/x@1/node_modules/@scope/pkg/dist/a.js` → `@scope/pkg/dist/a.js`; app files by name. */
export const shortLocation = (url: string, line: number): string => {
  if (url === "") return ""
  const path = url.replace(/^file:\/\//, "")
  const nm = path.lastIndexOf("/node_modules/")
  const short = nm >= 0 ? path.slice(nm + "/node_modules/".length) : path.replace(/^.*\/(apps|packages|bench)\//, "$1/")
  return `${short}:${line + 1}`
}

const packageOf = (frame: CallFrame): string => {
  const { url, functionName } = frame
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.startsWith("node:")) return "node:internal"
  const path = url.replace(/^file:\/\//, "")
  const nm = path.lastIndexOf("/node_modules/")
  if (nm >= 0) {
    const [first, second] = path.slice(nm + "/node_modules/".length).split("/")
    return first?.startsWith("@") ? `${first}/${second}` : (first ?? "?")
  }
  const app = /\/(apps|packages)\/([^/]+)\//.exec(path)
  return app ? `${app[1]}/${app[2]}` : path
}

const sourceMaps = new Map<string, SourceMap | null>()

/** The source map beside a bundled file (`<file>.map`), if any; cached per file. */
const sourceMapOf = (url: string): SourceMap | null => {
  let map = sourceMaps.get(url)
  if (map === undefined) {
    const path = `${url.replace(/^file:\/\//, "")}.map`
    map = null
    if (url.endsWith(".js") && !url.includes("/node_modules/") && existsSync(path)) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(path, "utf8")))
      } catch {
        map = null
      }
    }
    sourceMaps.set(url, map)
  }
  return map
}

/** The frame at its original source position when its file has a source map, else unchanged. */
export const resolveFrame = (frame: CallFrame): CallFrame => {
  const map = frame.url === "" ? null : sourceMapOf(frame.url)
  if (map === null) return frame
  const entry = map.findEntry(frame.lineNumber, frame.columnNumber ?? 0)
  if (!("originalSource" in entry) || entry.originalSource === undefined) return frame
  const source = new URL(entry.originalSource, frame.url).href
  return { functionName: frame.functionName, url: source, lineNumber: entry.originalLine }
}

const IDLE = "(idle)"
const GC = "(garbage collector)"

/** Summarise one profile: self time per function (top `top`) and per package. */
export const summarise = (name: string, profile: CpuProfile, top = 25): ProfileSummary => {
  const byId = new Map<number, ProfileNode>()
  for (const node of profile.nodes) byId.set(node.id, node)
  const selfUs = new Map<number, number>()
  let totalUs = 0
  profile.samples.forEach((id, i) => {
    const dt = Math.max(0, profile.timeDeltas[i] ?? 0)
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
    totalUs += dt
  })
  const functions = new Map<string, { functionName: string; location: string; us: number }>()
  const packages = new Map<string, number>()
  let idleUs = 0
  let gcUs = 0
  for (const [id, us] of selfUs) {
    const raw = byId.get(id)?.callFrame
    if (raw === undefined) continue
    const frame = resolveFrame(raw)
    if (frame.functionName === IDLE) {
      idleUs += us
      continue
    }
    if (frame.functionName === GC) gcUs += us
    const functionName = frame.functionName || "(anonymous)"
    const location = shortLocation(frame.url, frame.lineNumber)
    const key = `${functionName} ${location}`
    const entry = functions.get(key) ?? { functionName, location, us: 0 }
    entry.us += us
    functions.set(key, entry)
    const pkg = packageOf(frame)
    packages.set(pkg, (packages.get(pkg) ?? 0) + us)
  }
  const busyUs = totalUs - idleUs
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0)
  return {
    name,
    totalMs: totalUs / 1000,
    idleShare: totalUs > 0 ? idleUs / totalUs : 0,
    gcShare: share(gcUs),
    top: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ functionName: f.functionName, location: f.location, selfMs: f.us / 1000, share: share(f.us) })),
    packages: [...packages]
      .sort((a, b) => b[1] - a[1])
      .map(([pkg, us]) => ({ name: pkg, selfMs: us / 1000, share: share(us) }))
  }
}

/** Read and summarise a `.cpuprofile` file. */
export const summariseFile = (path: string, top = 25): ProfileSummary =>
  summarise(basename(path, ".cpuprofile"), JSON.parse(readFileSync(path, "utf8")) as CpuProfile, top)

/** The `.cpuprofile` files of a directory (or the file itself), sorted by name. */
export const profileFiles = (path: string): Array<string> =>
  statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => f.endsWith(".cpuprofile"))
        .sort()
        .map((f) => join(path, f))
    : [path]

/** Plain-text rendering, for the terminal. */
export const formatSummary = (s: ProfileSummary, top = 25): string => {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`
  const lines = [
    `== ${s.name}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.idleShare * 100).toFixed(0)}% idle, ` +
      `GC ${(s.gcShare * 100).toFixed(1)}% of busy`,
    "  by package (self time, share of busy):",
    ...s.packages.slice(0, 10).map((p) => `  ${pct(p.share)} ${p.selfMs.toFixed(0).padStart(8)} ms  ${p.name}`),
    "  top functions:",
    ...s.top
      .slice(0, top)
      .map((f) => `  ${pct(f.share)} ${f.selfMs.toFixed(0).padStart(8)} ms  ${f.functionName}  ${f.location}`)
  ]
  return lines.join("\n")
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "25" } }
  })
  const top = Number(values.top)
  if (positionals.length === 0 || !Number.isInteger(top) || top < 1) {
    console.error("usage: node bench/src/profile.ts <file.cpuprofile | directory> [--top N]")
    process.exit(2)
  }
  for (const target of positionals) {
    for (const file of profileFiles(target)) console.log(`${formatSummary(summariseFile(file, top), top)}\n`)
  }
}
