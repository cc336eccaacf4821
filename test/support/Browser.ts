/**
 * A real browser for tests: Debian's `chromium` (installed by scripts/test.ts) driven by playwright-core, which
 * downloads nothing. `openPage` gives a 1280×800 page whose every console error, uncaught error, failed request,
 * HTTP error answer and CSP violation is recorded in `problems`; `screenshot` keeps a PNG under test-artifacts/.
 */
import { mkdir } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"
import { Effect, Option, type Scope } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { chromiumAdvice, findChromium } from "../../scripts/support/Chromium.js"

export const ARTIFACTS_DIR = resolve(import.meta.dirname, "../../test-artifacts/browser")

/** The Chromium `npm test` installed (scripts/support/Chromium.ts); a clear error, failing the test, when none. */
export const chromiumPath = (): string =>
  Option.getOrThrowWith(findChromium(process.env), () => new Error(chromiumAdvice(process.env)))

/** One headless Chromium for the scope (closed with it). We run as root in CI, hence no sandbox. */
export const browser: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
    })
  ),
  (b) => Effect.promise(() => b.close())
)

/** Runs in every document before its own scripts (the tests compile without DOM types, hence a string). */
const REPORT_CSP_VIOLATIONS = `document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCspViolation(e.effectiveDirective + " blocked " + (e.blockedURI || "(inline)") + " at " + e.sourceFile + ":" + e.lineNumber)
})`

export interface WatchedPage {
  readonly page: Page
  readonly context: BrowserContext
  /** Everything that went wrong so far, one line each; a test that expects a clean page expects `[]`. */
  readonly problems: Array<string>
  /** Waits until no request has been in flight for `quietMs` (default 500), at most `maxMs` (default 10 s). */
  readonly settled: (quietMs?: number, maxMs?: number) => Effect.Effect<void>
}

/**
 * A fresh context and page (1280×800, no service workers) that records problems: console errors, uncaught page
 * errors, failed requests, answers ≥ 400, and `securitypolicyviolation` events reported by an init script (CSP
 * does not apply to it, so it sees every violation, including ones the console may word differently).
 */
export const openPage = (b: Browser): Effect.Effect<WatchedPage, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const context = await b.newContext({ viewport: { width: 1280, height: 800 }, serviceWorkers: "block" })
      const problems: Array<string> = []
      await context.exposeBinding("__reportCspViolation", (_source, line: string) => {
        problems.push(`CSP violation: ${line}`)
      })
      await context.addInitScript({ content: REPORT_CSP_VIOLATIONS })
      const page = await context.newPage()
      page.on("console", (message) => {
        if (message.type() === "error") problems.push(`console error: ${message.text()}`)
      })
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
      page.on("requestfailed", (request) =>
        problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText ?? "?"})`)
      )
      page.on("response", (response) => {
        if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`)
      })
      let inFlight = 0
      let lastChange = Date.now()
      const change = (delta: number) => () => {
        inFlight += delta
        lastChange = Date.now()
      }
      page.on("request", change(1))
      page.on("requestfinished", change(-1))
      page.on("requestfailed", change(-1))
      const settled = (quietMs = 500, maxMs = 10_000) =>
        Effect.promise(async () => {
          const until = Date.now() + maxMs
          while (Date.now() < until && (inFlight > 0 || Date.now() - lastChange < quietMs)) {
            await new Promise((resolve) => setTimeout(resolve, 50))
          }
        })
      return { page, context, problems, settled }
    }),
    ({ context }) => Effect.promise(() => context.close())
  )

/** Saves a full-page PNG as test-artifacts/browser/<name>.png and returns its path. */
export const screenshot = (page: Page, name: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    const path = join(ARTIFACTS_DIR, `${name}.png`)
    await mkdir(dirname(path), { recursive: true })
    await page.screenshot({ path, fullPage: false })
    return path
  })
