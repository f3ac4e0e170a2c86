/**
 * GET /dashboard: a live page of the service's figures (ingest rate chart, counters, topics, consumers, health,
 * a live tail), and its two assets under /dashboard/. The page and its assets hold no data, so they are served
 * without a key; the page's own calls carry the key the operator types in (kept in sessionStorage, never in the
 * HTML). The HTML only says whether a key is needed, so the page asks for one before its first call.
 *
 * The assets are built at build time (`dashboard/build.ts`, esbuild) into `dist/dashboard/` and read here once, at
 * start, with their gzip forms. Until they are built (tests run from source) the routes answer 503 saying so, and
 * nothing else of the API depends on them. Deliberately no templating beyond the two asset names and the flag.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { Effect } from "effect"
import { content, type Route } from "../Route.ts"

// The package's dist/dashboard, from src/routes/ (tests, source runs) or from dist/ (the bundled main.js).
const candidates = (): ReadonlyArray<string> => {
  const here = dirname(fileURLToPath(import.meta.url))
  return [join(here, "dashboard"), join(here, "..", "..", "dist", "dashboard")]
}

/** The directory holding the built assets (with their manifest), or undefined when they are not built. */
export const assetsDir = (): string | undefined => candidates().find((dir) => existsSync(join(dir, "manifest.json")))

// Only our own origin; styles may be set inline (the chart sizes its elements through the style attribute).
const SECURITY = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer"
}

const page = (js: string, css: string, auth: boolean) => `<!doctype html>
<html lang="en" data-auth="${auth ? "required" : "off"}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>agg dashboard</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/dashboard/${css}">
  <script type="module" src="/dashboard/${js}"></script>
</head>
<body></body>
</html>
`

interface Asset {
  readonly type: string
  readonly plain: Buffer
  readonly gzip: Buffer
  readonly cache: string
}

const asset = (type: string, body: string | Buffer, cache: string): Asset => {
  const plain = Buffer.isBuffer(body) ? body : Buffer.from(body)
  return { type, plain, gzip: gzipSync(plain, { level: 9 }), cache }
}

// gzip when the client takes it (every browser does): the page is sent at its compressed size.
const serve =
  (a: Asset): Route<never>["handler"] =>
  ({ request }) => {
    const gzip = /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""))
    const headers = { ...SECURITY, "cache-control": a.cache, vary: "accept-encoding" }
    return Effect.succeed(
      gzip
        ? content(200, a.type, a.gzip, { ...headers, "content-encoding": "gzip" })
        : content(200, a.type, a.plain, headers)
    )
  }

const NOT_BUILT = "the dashboard's assets are not built: run `pnpm --filter @agg/api build`\n"

const IMMUTABLE = "public, max-age=31536000, immutable"

// The built set, or undefined when there is none (or it is being replaced by a build right now).
const readAssets = (auth: boolean) => {
  const dir = assetsDir()
  if (dir === undefined) return undefined
  try {
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { js: string; css: string }
    return {
      manifest,
      html: asset("text/html; charset=utf-8", page(manifest.js, manifest.css, auth), "no-cache"),
      js: asset("text/javascript; charset=utf-8", readFileSync(join(dir, manifest.js)), IMMUTABLE),
      css: asset("text/css; charset=utf-8", readFileSync(join(dir, manifest.css)), IMMUTABLE)
    }
  } catch {
    return undefined
  }
}

/** Reads the built assets now; `auth`: whether the data calls need a key. @category constructors */
export const routes = (auth: boolean): Effect.Effect<ReadonlyArray<Route<never>>> =>
  Effect.sync(() => {
    const built = readAssets(auth)
    if (built === undefined) {
      const reply = content(503, "text/plain; charset=utf-8", NOT_BUILT, { "cache-control": "no-store" })
      return [{ method: "GET", path: "/dashboard", auth: false, handler: () => Effect.succeed(reply) }]
    }
    const { manifest, html, js, css } = built
    return [
      { method: "GET", path: "/dashboard", auth: false, handler: serve(html) },
      { method: "GET", path: `/dashboard/${manifest.js}`, auth: false, handler: serve(js) },
      { method: "GET", path: `/dashboard/${manifest.css}`, auth: false, handler: serve(css) }
    ]
  })
