/**
 * The API's own description: `GET /openapi.json` (OpenAPI 3.1, always) and the Scalar UI at `GET /docs` (not in
 * production). Both are router routes beside the HttpApi groups, so `Api`'s OpenAPI transform (Api.ts) lists them.
 *
 * The Scalar page is self-contained (the platform inlines Scalar's script), so its CSP allows exactly the inline
 * scripts it carries, by SHA-256, and nothing from elsewhere; the hashes are taken from the page itself the first
 * time it is served, so they cannot drift from the script the platform ships.
 */
import { createHash } from "node:crypto"
import { HttpApiBuilder, HttpApiScalar, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Layer } from "effect"
import type { HttpApi } from "@effect/platform"

export const DOCS_PATH = "/docs"
export const OPENAPI_PATH = "/openapi.json"

/** `script-src` hashes of every inline executable `<script>` of an HTML page. */
export const inlineScriptHashes = (html: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const match of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
    const attributes = match[1] ?? ""
    if (/\bsrc\s*=/.test(attributes) || /type\s*=\s*"application\/json"/.test(attributes)) continue
    out.push(
      `'sha256-${createHash("sha256")
        .update(match[2] ?? "", "utf8")
        .digest("base64")}'`
    )
  }
  return out
}

export const docsCsp = (html: string): string =>
  [
    "default-src 'none'",
    `script-src ${inlineScriptHashes(html).join(" ")}`,
    "style-src 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'"
  ].join("; ")

/** Adds the page's CSP to `/docs` answers; installed only when the docs are served. */
const docsCspMiddleware = HttpApiBuilder.middleware((app) => {
  let csp: string | undefined
  return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    request.url !== DOCS_PATH
      ? app
      : Effect.map(app, (response) => {
          if (response.body._tag !== "Uint8Array" || response.status !== 200) return response
          csp ??= docsCsp(new TextDecoder().decode(response.body.body))
          return HttpServerResponse.setHeader(response, "content-security-policy", csp)
        })
  )
})

export const DocsLive = (options: { readonly scalar: boolean }): Layer.Layer<never, never, HttpApi.Api> =>
  options.scalar
    ? Layer.mergeAll(
        HttpApiBuilder.middlewareOpenApi({ path: OPENAPI_PATH }),
        HttpApiScalar.layer({ path: DOCS_PATH, scalar: { withDefaultFonts: false } }),
        docsCspMiddleware
      )
    : HttpApiBuilder.middlewareOpenApi({ path: OPENAPI_PATH })
