/**
 * The API's own description: `GET /openapi.json` (OpenAPI 3.1, always) and the Scalar reference at `GET /docs`
 * (on outside production; in production only with `THREADLINE_DOCS=true`). The page loads Scalar's browser bundle
 * from Threadline itself (`/docs/scalar.<hash>.js`, the copy @effect/platform ships), never from a CDN, under a CSP
 * that allows that one script, WebAssembly compilation, and nothing from elsewhere (docs/decisions.md).
 */
import { createHash } from "node:crypto"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { promisify } from "node:util"
import { gzip } from "node:zlib"
import { HttpApiBuilder, type HttpApiScalar, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import type { HttpApi } from "@effect/platform"
import { Config, Effect, Layer } from "effect"
import { AppConfig } from "../Config.js"

export const DOCS_PATH = "/docs"
export const OPENAPI_PATH = "/openapi.json"

/**
 * Scalar's settings: the document comes from /openapi.json; no fonts are fetched (its default loads them from a
 * CDN); every tag starts open, so every operation is listed; no toolbar (its "Share" uploads the document to
 * Scalar's registry, its SDK generator is Scalar's service: neither works, nor should, on a private network).
 */
const SCALAR_CONFIG: HttpApiScalar.ScalarConfig & { readonly url: string; readonly showToolbar: "never" } = {
  url: OPENAPI_PATH,
  withDefaultFonts: false,
  defaultOpenAllTags: true,
  showToolbar: "never"
}

/**
 * Scalar's standalone bundle as @effect/platform ships it (the version its `HttpApiScalar` was made for), read
 * from the package's own files: the platform exposes it only inlined into a page, which a CSP without
 * `'unsafe-inline'` cannot run. Two edits, both asserted by the tests:
 * - the source-map comment goes (it names a map on the CDN the bundle was minified by; browsers would fetch it);
 * - zod's probe for `new Function` answers "no" without trying: under this CSP the probe always fails (and zod
 *   then validates without generated code, as it does anyway), but trying reports a CSP violation on every load.
 */
export const ZOD_EVAL_PROBE = 'try{return new Function(""),!0}catch(e){return!1}'

export const loadScalarBundle = (): string => {
  const require = createRequire(import.meta.url)
  const entry = require.resolve("@effect/platform/HttpApiScalar")
  const { javascript } = require(join(dirname(entry), "internal", "httpApiScalar.js")) as { javascript: string }
  return javascript.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, "\n").replace(ZOD_EVAL_PROBE, "return!1")
}

export interface DocsAsset {
  /** `/docs/scalar.<first 16 hex of its SHA-256>.js`: a new bundle gets a new URL, so it may be cached forever. */
  readonly path: `/${string}`
  readonly body: Uint8Array
}

export const docsAsset = (source: string): DocsAsset => {
  const body = new TextEncoder().encode(source)
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16)
  return { path: `${DOCS_PATH}/scalar.${hash}.js`, body }
}

const escapeAttribute = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/** The page: Scalar's mount point with its configuration as a data attribute, and the bundle; no inline script. */
const docsPage = (asset: DocsAsset): string => `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Threadline API reference</title>
    <link rel="icon" href="data:," />
  </head>
  <body>
    <script id="api-reference" type="application/json" data-configuration="${escapeAttribute(JSON.stringify(SCALAR_CONFIG))}"></script>
    <script src="${asset.path}"></script>
  </body>
</html>
`

/**
 * `'wasm-unsafe-eval'`: Scalar compiles a WebAssembly hash function (it allows WebAssembly only, not `eval`).
 * `style-src 'unsafe-inline'`: Scalar injects its stylesheet and theme as `<style>` elements at run time, whose
 * contents are not known in advance. Images may be data: URLs (icons); everything else is this origin or nothing.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'"
].join("; ")

const IMMUTABLE = "public, max-age=31536000, immutable"

const routes = (asset: DocsAsset) => {
  const page = HttpServerResponse.text(docsPage(asset), {
    contentType: "text/html; charset=utf-8",
    headers: { "content-security-policy": DOCS_CSP, "cache-control": "no-cache" }
  })
  const headers = { "cache-control": IMMUTABLE, vary: "Accept-Encoding" }
  const plain = HttpServerResponse.uint8Array(asset.body, { contentType: "text/javascript; charset=utf-8", headers })
  // compressed on first use (3.3 MB → under 1 MB), off the event loop, once per process
  let gzipped: Promise<Uint8Array> | undefined
  const compressed = Effect.promise(() => (gzipped ??= promisify(gzip)(asset.body, { level: 9 }))).pipe(
    Effect.map((body) =>
      HttpServerResponse.uint8Array(body, {
        contentType: "text/javascript; charset=utf-8",
        headers: { ...headers, "content-encoding": "gzip" }
      })
    )
  )
  const script = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    /\bgzip\b/.test(request.headers["accept-encoding"] ?? "") ? compressed : Effect.succeed(plain)
  )
  return HttpApiBuilder.Router.use((router) =>
    Effect.zipRight(router.get(DOCS_PATH, Effect.succeed(page)), router.get(asset.path, script))
  )
}

/** Whether `/docs` is served: `THREADLINE_DOCS` when set, else everywhere but production. */
export const docsEnabled: Effect.Effect<boolean, never, AppConfig> = Effect.gen(function* () {
  const app = yield* AppConfig
  return yield* Config.boolean("THREADLINE_DOCS").pipe(Config.withDefault(app.env !== "production"), Effect.orDie)
})

export const DocsLive = (options: { readonly scalar: boolean }): Layer.Layer<never, never, HttpApi.Api> =>
  options.scalar
    ? Layer.mergeAll(
        HttpApiBuilder.middlewareOpenApi({ path: OPENAPI_PATH }),
        Layer.unwrapEffect(Effect.sync(() => routes(docsAsset(loadScalarBundle()))))
      )
    : HttpApiBuilder.middlewareOpenApi({ path: OPENAPI_PATH })
