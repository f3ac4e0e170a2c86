/**
 * GET /openapi.json and GET /docs: the OpenAPI document and Swagger UI, whose assets are read from the installed
 * `swagger-ui-dist` package at start (no CDN: the UI works offline). Only the few files the page needs are
 * served, from memory. Behind the API keys like every route but /health. Does not build the document (see `OpenApi`).
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { content, type Route } from "../Route.ts"

const ASSETS: ReadonlyArray<readonly [string, string]> = [
  ["swagger-ui.css", "text/css; charset=utf-8"],
  ["swagger-ui-bundle.js", "text/javascript; charset=utf-8"],
  ["swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8"],
  ["favicon-32x32.png", "image/png"],
  ["favicon-16x16.png", "image/png"]
]

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>agg API reference</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`

const INIT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
})
`

/** The directory of the installed swagger-ui-dist package. */
export const swaggerUiDir = (): string =>
  dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"))

/**
 * The pages load only their own scripts and styles (Swagger UI sets inline styles, and its icons are data URLs),
 * and may not be framed.
 */
export const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

/**
 * Reads the assets now (fails at start, not at the first request, when the package is missing). Behind API keys
 * the answers may only be cached privately: a shared cache must not hand them to a client without a key.
 */
export const routes = (openApi: unknown, authEnabled: boolean): Effect.Effect<ReadonlyArray<Route<never>>> =>
  Effect.sync(() => {
    const dir = swaggerUiDir()
    const document = JSON.stringify(openApi)
    const cache = { "cache-control": `${authEnabled ? "private" : "public"}, max-age=3600` }
    const fixed = (path: string, type: string, body: string | Buffer, headers = cache): Route<never> => {
      const reply = content(200, type, body, { ...headers, "content-security-policy": DOCS_CSP })
      return { method: "GET", path, auth: true, handler: () => Effect.succeed(reply) }
    }
    return [
      fixed("/openapi.json", "application/json; charset=utf-8", document, {
        "cache-control": authEnabled ? "private, no-cache" : "no-cache"
      }),
      fixed("/docs", "text/html; charset=utf-8", PAGE),
      fixed("/docs/", "text/html; charset=utf-8", PAGE),
      fixed("/docs/init.js", "text/javascript; charset=utf-8", INIT),
      ...ASSETS.map(([file, type]) => fixed(`/docs/${file}`, type, readFileSync(join(dir, file))))
    ]
  })
