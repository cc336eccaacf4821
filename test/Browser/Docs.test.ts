/**
 * The API reference at /docs as a person sees it: Debian's Chromium (test/support/Browser.ts) opens the page of a
 * real api server and waits until every operation of /openapi.json is listed; any console error, uncaught error,
 * failed request, HTTP error or CSP violation fails the test. Also: the page's CSP and self-hosted bundle over
 * HTTP, and `/docs` in production (off by default, on with THREADLINE_DOCS=true, same CSP).
 */
import { randomBytes } from "node:crypto"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { Page } from "playwright-core"
import { DOCS_CSP, docsAsset, loadScalarBundle, ZOD_EVAL_PROBE } from "../../src/Http/Docs.js"
import { baseUrl, call } from "../Http/support/TestServer.js"
import { appServer } from "../support/AppServer.js"
import { browser, openPage, screenshot } from "../support/Browser.js"

const PRODUCTION = { THREADLINE_ENV: "production", THREADLINE_SECRET_KEY: randomBytes(32).toString("hex") }

interface Operation {
  /** `METHOD /path`, as the reference's per-tag "Operations" lists show it. */
  readonly route: string
  /** As the sidebar shows it: the summary when there is one, else the path; DELETE abbreviated to DEL. */
  readonly sidebar: string
}

/** Every operation of the served OpenAPI document. */
const operationsOf = (base: string) =>
  Effect.map(call(`${base}/openapi.json`), (res): ReadonlyArray<Operation> =>
    Object.entries(res.json.paths as Record<string, Record<string, { summary?: string }>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({
        route: `${method.toUpperCase()} ${path}`,
        sidebar: `${method === "delete" ? "DEL" : method.toUpperCase()} ${op.summary ?? path}`
      }))
    )
  )

const sorted = (operations: ReadonlyArray<Operation>, key: keyof Operation) => operations.map((o) => o[key]).sort()

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** Scalar writes paths with zero-width spaces after each `/` (line breaking) and labels methods for readers. */
const operationLabel = (text: string) => {
  const match = /^(.*?)HTTP Method:\s*(\w+)\s*$/s.exec(text.replace(/\u200b/g, ""))
  return match === null ? `unparsed: ${text}` : `${(match[2] ?? "").toUpperCase()} ${(match[1] ?? "").trim()}`
}

/** Opens /docs and waits until the sidebar lists every operation; returns what the sidebar and the page list. */
const renderDocs = (page: Page, base: string, count: number) =>
  Effect.gen(function* () {
    const response = yield* promise(() => page.goto(`${base}/docs`))
    expect(response?.status()).toBe(200)
    const sidebar = page.getByRole("navigation", { name: "Sidebar for Threadline" })
    const entries = sidebar.getByRole("button").filter({ hasText: "HTTP Method:" })
    yield* promise(() => entries.nth(count - 1).waitFor({ timeout: 60_000 }))
    const listed = yield* promise(() => entries.allTextContents())
    // each tag's "Operations" card in the reference itself
    const cards = page.getByRole("list", { name: /endpoints$/ }).getByRole("listitem")
    yield* promise(() => cards.nth(count - 1).waitFor({ timeout: 60_000 }))
    const shown = yield* promise(() => cards.allTextContents())
    return {
      sidebar: listed.map(operationLabel).sort(),
      cards: shown.map((t) => t.trim().replace(/^(\w+)\s*/, (_: string, m: string) => `${m.toUpperCase()} `)).sort()
    }
  })

/** Goes to one operation from the sidebar and expands a response of its request example. */
const openRegisterExample = (page: Page) =>
  Effect.gen(function* () {
    const sidebar = page.getByRole("navigation", { name: "Sidebar for Threadline" })
    yield* promise(() => sidebar.getByRole("button").filter({ hasText: "register" }).click())
    const example = page.getByRole("group", { name: /Request Example for\s*post\s*\/api\/v1\/auth\/register/i })
    yield* promise(() => example.waitFor({ state: "visible" }))
    expect(yield* promise(() => example.isVisible())).toBe(true)
    const snippet = (yield* promise(() => example.textContent())) ?? ""
    expect(snippet).toContain(`${new URL(page.url()).origin}/api/v1/auth/register`)
    expect(snippet).toContain("--request POST")
    expect(snippet).toMatch(/"email":[\s\S]*"password":/)
    const section = page.getByRole("region", { name: "/api/v1/auth/register", exact: true })
    const created = section.getByRole("list", { name: "Responses" }).getByRole("button", { name: /^201/ })
    expect(yield* promise(() => created.getAttribute("aria-expanded"))).toBe("false")
    yield* promise(() => created.click())
    expect(yield* promise(() => created.getAttribute("aria-expanded"))).toBe("true")
    const details = section.getByRole("list", { name: "Responses" }).getByRole("listitem").first()
    yield* promise(() => details.getByText("email", { exact: true }).waitFor({ state: "visible" }))
  })

/** Sends `GET /health` from Scalar's API client ("Test Request"): the request reaches us under `connect-src 'self'`. */
const sendHealthFromClient = (page: Page) =>
  Effect.gen(function* () {
    const example = page.getByRole("group", { name: /Request Example for\s*get\s*\/health$/i })
    yield* promise(() => example.getByRole("button", { name: "Test Request" }).click())
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === "/health")
    yield* promise(() => page.getByRole("button", { name: /^Send/ }).filter({ visible: true }).first().click())
    expect((yield* promise(() => answered)).status()).toBe(200)
    yield* promise(() => page.getByText("200 OK", { exact: true }).first().waitFor({ state: "visible" }))
  })

describe("the API reference in a browser", () => {
  layer(appServer("docs-browser"), { timeout: 120_000 })("development defaults", (it) => {
    it.scoped(
      "lists every operation of /openapi.json, expands a request example, sends one, with no error, violation or failure",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const operations = yield* operationsOf(base)
          expect(operations.length).toBeGreaterThan(30)
          const { page, problems, settled } = yield* openPage(yield* browser)
          const listed = yield* renderDocs(page, base, operations.length)
          yield* screenshot(page, "docs")
          expect(listed.sidebar).toEqual(sorted(operations, "sidebar"))
          expect(listed.cards).toEqual(sorted(operations, "route"))
          yield* openRegisterExample(page)
          yield* screenshot(page, "docs-request-example")
          yield* sendHealthFromClient(page)
          yield* screenshot(page, "docs-test-request")
          // late arrivals (a lazy chunk, a font, a report) count too
          yield* settled()
          expect(problems).toEqual([])
        }),
      120_000
    )

    it.effect("the page: no inline script, Scalar's bundle from this server, cached by its hash", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const res = yield* call(`${base}/docs`)
        expect(res.status).toBe(200)
        expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8")
        expect(res.headers.get("content-security-policy")).toBe(DOCS_CSP)
        expect(DOCS_CSP).toContain("script-src 'self' 'wasm-unsafe-eval';")
        expect(DOCS_CSP).not.toMatch(/'unsafe-eval'|https?:|\*/)
        const scripts = [...res.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)]
        // the configuration block is data (type application/json, empty); the one executable script is ours
        expect(scripts.map((m) => m[2]?.trim())).toEqual(["", ""])
        const src = /<script src="([^"]+)"><\/script>/.exec(res.text)?.[1] ?? ""
        expect(src).toMatch(/^\/docs\/scalar\.[0-9a-f]{16}\.js$/)
        expect(src).toBe(docsAsset(loadScalarBundle()).path)

        const plain = yield* call(`${base}${src}`, { headers: { "accept-encoding": "identity" } })
        expect(plain.status).toBe(200)
        expect(plain.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
        expect(plain.headers.get("cache-control")).toBe("public, max-age=31536000, immutable")
        expect(plain.headers.get("content-encoding")).toBeNull()
        expect(plain.text).toBe(loadScalarBundle())
        expect(plain.text).toContain("@scalar/api-reference@")
        const gzipped = yield* call(`${base}${src}`, { headers: { "accept-encoding": "gzip" } })
        expect(gzipped.headers.get("content-encoding")).toBe("gzip")
        expect(gzipped.text).toBe(plain.text)

        expect((yield* call(`${base}/docs/scalar.0000000000000000.js`)).status).toBe(404)
      })
    )

    it.effect("the bundle: no CDN source map, and zod's eval probe answered without trying", () =>
      Effect.sync(() => {
        const bundle = loadScalarBundle()
        expect(bundle).not.toContain("sourceMappingURL")
        expect(bundle).not.toContain(ZOD_EVAL_PROBE)
        expect(bundle).not.toMatch(/new Function\(/)
        expect(bundle).not.toMatch(/(?:^|[^\w$.])eval\(/)
      })
    )
  })

  layer(appServer("docs-prod-off", PRODUCTION), { timeout: 120_000 })("production", (it) => {
    it.effect("/docs and its bundle are not served; /openapi.json is", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const docs = yield* call(`${base}/docs`)
        expect(docs.status).toBe(404)
        expect(docs.json).toMatchObject({ error: true, code: 404, name: "NotFound" })
        expect((yield* call(`${base}${docsAsset(loadScalarBundle()).path}`)).status).toBe(404)
        expect((yield* call(`${base}/openapi.json`)).status).toBe(200)
      })
    )
  })

  layer(appServer("docs-prod-on", { ...PRODUCTION, THREADLINE_DOCS: "true" }), { timeout: 120_000 })(
    "production with THREADLINE_DOCS=true",
    (it) => {
      it.scoped(
        "/docs is served with the same CSP and renders every operation cleanly",
        () =>
          Effect.gen(function* () {
            const base = yield* baseUrl
            const res = yield* call(`${base}/docs`)
            expect(res.status).toBe(200)
            expect(res.headers.get("content-security-policy")).toBe(DOCS_CSP)
            const operations = yield* operationsOf(base)
            const { page, problems, settled } = yield* openPage(yield* browser)
            const listed = yield* renderDocs(page, base, operations.length)
            expect(listed.sidebar).toEqual(sorted(operations, "sidebar"))
            expect(listed.cards).toEqual(sorted(operations, "route"))
            yield* settled()
            expect(problems).toEqual([])
          }),
        120_000
      )
    }
  )
})
