/**
 * The platform around the handlers, on the application's own Api: liveness and readiness, the OpenAPI document
 * (valid 3.1, listing the routes of API.md that exist, errors described as ErrorBody), the Scalar page and its
 * CSP, security headers, CORS and request timeouts.
 */
import { randomBytes } from "node:crypto"
import { OpenApi } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { Validator } from "@seriousme/openapi-schema-validator"
import { Effect } from "effect"
import { Api } from "../../src/Http/Api.js"
import { DOCS_CSP } from "../../src/Http/Docs.js"
import { ALLOWED_ORIGIN, baseUrl, call, testServer } from "./support/TestServer.js"

const EXISTING_ROUTES = [
  "get /health",
  "get /ready",
  "get /openapi.json",
  "get /docs",
  "post /api/v1/ingest",
  "post /api/v1/ingest/single",
  "post /v1/otlp/logs",
  "get /api/v1/logs",
  "get /api/v1/logs/stats",
  "get /api/v1/logs/trace/{traceId}",
  "get /api/v1/logs/aggregated",
  "get /api/v1/logs/context",
  "get /api/v1/logs/services",
  "get /api/v1/logs/{id}",
  "post /api/v1/auth/register",
  "post /api/v1/auth/login",
  "post /api/v1/auth/logout",
  "post /api/v1/auth/logout-all",
  "get /api/v1/auth/me",
  "post /api/v1/orgs",
  "get /api/v1/orgs",
  "get /api/v1/orgs/{org}",
  "get /api/v1/orgs/{org}/members",
  "get /api/v1/orgs/{org}/invitations",
  "post /api/v1/orgs/{org}/invitations",
  "delete /api/v1/orgs/{org}/invitations/{invitationId}",
  "post /api/v1/invitations/accept",
  "delete /api/v1/orgs/{org}/members/{userId}",
  "get /api/v1/orgs/{org}/projects",
  "post /api/v1/orgs/{org}/projects",
  "get /api/v1/orgs/{org}/projects/{project}",
  "delete /api/v1/orgs/{org}/projects/{project}",
  "get /api/v1/orgs/{org}/projects/{project}/api-keys",
  "post /api/v1/orgs/{org}/projects/{project}/api-keys",
  "delete /api/v1/orgs/{org}/projects/{project}/api-keys/{keyId}",
  "get /api/v1/orgs/{org}/alert-rules",
  "post /api/v1/orgs/{org}/alert-rules",
  "get /api/v1/orgs/{org}/alert-rules/{ruleId}",
  "put /api/v1/orgs/{org}/alert-rules/{ruleId}",
  "delete /api/v1/orgs/{org}/alert-rules/{ruleId}",
  "get /api/v1/orgs/{org}/alert-events",
  "get /api/v1/orgs/{org}/webhook-deliveries",
  "post /api/v1/orgs/{org}/webhook-deliveries/{deliveryId}/replay",
  "get /api/v1/orgs/{org}/audit-log",
  "get /api/v1/orgs/{org}/limits",
  "put /api/v1/orgs/{org}/limits"
]

const routesOf = (spec: OpenApi.OpenAPISpec) =>
  Object.entries(spec.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`))

describe("OpenAPI document", () => {
  layer(testServer({ label: "openapi", realApi: true }).layer, { timeout: 60_000 })("served", (it) => {
    it.effect("validates as OpenAPI 3.1 and lists exactly the routes that exist", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const res = yield* call(`${base}/openapi.json`)
        expect(res.status).toBe(200)
        const spec = res.json as unknown as OpenApi.OpenAPISpec
        expect(spec.openapi).toBe("3.1.0")
        const result = yield* Effect.promise(() => new Validator().validate(res.json))
        expect(result.errors ?? []).toEqual([])
        expect(result.valid).toBe(true)
        expect(routesOf(spec).sort()).toEqual([...EXISTING_ROUTES].sort())
        expect(spec).toEqual(OpenApi.fromApi(Api))
      })
    )

    it.effect("error responses are described as ErrorBody, with the security schemes of each route", () =>
      Effect.gen(function* () {
        const spec = OpenApi.fromApi(Api)
        const search = spec.paths["/api/v1/logs"]?.get
        expect(search?.security).toEqual([{ bearer: [] }, { apiKey: [] }, { session: [] }])
        expect(spec.paths["/api/v1/ingest"]?.post?.security).toEqual([{ bearer: [] }, { apiKey: [] }])
        for (const status of ["400", "401", "403", "500", "503"]) {
          expect(JSON.stringify((search?.responses as Record<string, unknown>)[status])).toContain(
            "#/components/schemas/ErrorBody"
          )
        }
        expect(spec.components.schemas.ErrorBody).toBeDefined()
        expect(spec.components.securitySchemes.session).toMatchObject({
          type: "apiKey",
          in: "cookie",
          name: "threadline_session"
        })
      })
    )

    it.effect("the Scalar page is served with its CSP: scripts from this origin only, no inline script", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const res = yield* call(`${base}/docs`)
        expect(res.status).toBe(200)
        expect(res.headers.get("content-type")).toContain("text/html")
        const csp = res.headers.get("content-security-policy") ?? ""
        expect(csp).toBe(DOCS_CSP)
        expect(csp).toContain("default-src 'none'")
        expect(csp).toContain("frame-ancestors 'none'")
        expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';")
        expect(csp).not.toContain("'unsafe-eval'")
        expect(csp).not.toMatch(/script-src[^;]*(https?:|'unsafe-inline'|'sha256-)/)
        const inline = [...res.text.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>([\s\S]*?)<\/script>/g)]
        expect(inline.every((m) => /type="application\/json"/.test(m[1] ?? "") && m[2] === "")).toBe(true)
        // the test in test/Browser/Docs.test.ts opens this page in Chromium
      })
    )

    it.effect("liveness and readiness (Postgres and Redis up)", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        expect((yield* call(`${base}/health`)).json).toEqual({ status: "ok" })
        const ready = yield* call(`${base}/ready`)
        expect(ready.status).toBe(200)
        expect(ready.json).toEqual({ status: "ready", checks: { postgres: "up", redis: "up" } })
      })
    )
  })

  layer(
    testServer({
      label: "prod",
      realApi: true,
      redis: "down",
      config: { THREADLINE_ENV: "production", THREADLINE_SECRET_KEY: randomBytes(32).toString("hex") }
    }).layer,
    {
      timeout: 60_000
    }
  )("production, Redis down", (it) => {
    it.effect("/docs is not served; /ready is 503 naming the dependency; /health stays 200", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        expect((yield* call(`${base}/docs`)).status).toBe(404)
        expect((yield* call(`${base}/openapi.json`)).status).toBe(200)
        const ready = yield* call(`${base}/ready`)
        expect(ready.status).toBe(503)
        expect(ready.json).toMatchObject({
          error: true,
          code: 503,
          name: "NotReady",
          details: [
            { path: "postgres", message: "up" },
            { path: "redis", message: "down" }
          ]
        })
        expect((yield* call(`${base}/health`)).status).toBe(200)
      })
    )
  })
})

describe("security headers, CORS, timeouts", () => {
  const server = testServer({
    label: "security",
    config: { THREADLINE_HSTS_MAX_AGE_SECONDS: "31536000", THREADLINE_REQUEST_TIMEOUT_MS: "400" }
  })
  layer(server.layer, { timeout: 60_000 })("hardened", (it) => {
    it.effect("every response carries the security headers, errors and 404s included", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const [path, status] of [
          ["/health", 200],
          ["/nowhere", 404],
          ["/probe/any", 401]
        ] as const) {
          const res = yield* call(`${base}${path}`)
          expect(res.status).toBe(status)
          expect(res.headers.get("x-content-type-options")).toBe("nosniff")
          expect(res.headers.get("x-frame-options")).toBe("DENY")
          expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
          expect(res.headers.get("referrer-policy")).toBe("no-referrer")
          expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains")
        }
      })
    )

    it.effect("CORS: allowed origins with credentials, others get nothing; preflight", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const allowed = yield* call(`${base}/health`, { headers: { origin: ALLOWED_ORIGIN } })
        expect(allowed.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN)
        expect(allowed.headers.get("access-control-allow-credentials")).toBe("true")
        expect(allowed.headers.get("access-control-expose-headers")).toContain("X-Request-Id")
        expect(allowed.headers.get("vary")).toContain("Origin")
        const other = yield* call(`${base}/health`, { headers: { origin: "https://evil.example.com" } })
        expect(other.headers.get("access-control-allow-origin")).toBeNull()
        const preflight = yield* call(`${base}/api/v1/logs`, {
          method: "OPTIONS",
          headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "GET" }
        })
        expect(preflight.status).toBe(204)
        expect(preflight.headers.get("access-control-allow-methods")).toContain("GET")
        expect(preflight.headers.get("access-control-allow-headers")).toContain("X-API-Key")
        expect(preflight.headers.get("x-request-id")).toBeTruthy()
        const refused = yield* call(`${base}/api/v1/logs`, {
          method: "OPTIONS",
          headers: { origin: "https://evil.example.com", "access-control-request-method": "GET" }
        })
        expect(refused.headers.get("access-control-allow-origin")).toBeNull()
      })
    )

    it.effect("a handler past the request timeout is answered 503 RequestTimeout", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const res = yield* call(`${base}/probe/fail/slow`)
        expect(res.status).toBe(503)
        expect(res.json).toMatchObject({ error: true, code: 503, name: "RequestTimeout" })
        expect(res.headers.get("retry-after")).toBe("1")
        expect(res.json.reqId).toBe(res.headers.get("x-request-id"))
        expect(server.accessLog.lines.find((l) => l.requestId === res.json.reqId)?.status).toBe(503)
      })
    )
  })
})
