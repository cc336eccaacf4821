/**
 * Bad input with fast-check against the running API: ingestion bodies, OTLP protobuf bytes (plain and gzip), search
 * query parameters and the headers the server interprets (X-Request-Id, X-API-Key, Cookie, traceparent). Properties:
 * never a 5xx, the process never dies, every answer carries a request id (the one sent when valid, else a minted
 * one), and every 4xx has API.md's error shape. A counterexample is printed shrunk, with fast-check's seed.
 */
import { gzipSync } from "node:zlib"
import fc from "fast-check"
import { REQUEST_ID_PATTERN } from "../src/RequestContext.js"
import { KNOWN_FUZZ } from "./Known.js"

export interface FuzzResult {
  readonly figures: Record<string, number>
  readonly violations: Array<string>
  /** Answers that match a known finding (verify/Known.ts): reported, and the property keeps exploring. */
  readonly known: Array<string>
}

interface Answer {
  readonly status: number
  readonly id: string | null
  readonly body: unknown
}

const send = async (base: string, path: string, init: RequestInit): Promise<Answer> => {
  const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(30_000) })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: the shape check reports it
  }
  return { status: res.status, id: res.headers.get("x-request-id"), body }
}

/** The problem with an answer, or undefined when it keeps the contract. */
export const contractProblem = (a: Answer, sentId?: string): string | undefined => {
  if (a.status >= 500) return `status ${a.status}: ${JSON.stringify(a.body)}`
  if (a.id === null || !REQUEST_ID_PATTERN.test(a.id)) return `no valid X-Request-Id in the answer (${String(a.id)})`
  if (sentId !== undefined) {
    const valid = REQUEST_ID_PATTERN.test(sentId)
    if (valid && a.id !== sentId) return `valid request id ${sentId} not echoed (got ${a.id})`
    if (!valid && a.id === sentId) return `invalid request id echoed`
  }
  if (a.status >= 400) {
    const b = a.body as Record<string, unknown> | null
    if (b === null || typeof b !== "object") return `4xx without a JSON body: ${String(a.body)}`
    if (b.error !== true || b.code !== a.status || typeof b.name !== "string" || typeof b.message !== "string") {
      return `4xx body not in the error shape: ${JSON.stringify(b)}`
    }
    if (b.reqId !== a.id) return `error body reqId ${String(b.reqId)} ≠ header ${a.id}`
  }
  return undefined
}

const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 160
})
const anyText = fc.string({ unit: "binary", maxLength: 200 })

const entryArb = fc.record(
  {
    time: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      anyText,
      fc.integer()
    ),
    service: fc.oneof(anyText, fc.constant(""), fc.string({ minLength: 101, maxLength: 120 })),
    level: fc.oneof(fc.constantFrom("debug", "info", "warn", "error", "critical", "fatal", "INFO", ""), anyText),
    message: fc.oneof(anyText, fc.constant(""), fc.integer()),
    metadata: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(null)),
    trace_id: anyText,
    span_id: fc.oneof(fc.stringMatching(/^[0-9a-f]{16}$/), anyText)
  },
  { requiredKeys: [] }
)

const ingestBody = fc.oneof(
  fc.record({ logs: fc.array(entryArb, { maxLength: 8 }) }).map((b) => JSON.stringify(b)),
  fc.array(entryArb, { maxLength: 8 }).map((b) => JSON.stringify(b)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  anyText
)

const SEARCH_KEYS = [
  "projectId",
  "from",
  "to",
  "level",
  "service",
  "traceId",
  "q",
  "searchMode",
  "limit",
  "cursor",
  "offset",
  "x"
]
const queryArb = fc
  .array(
    fc.tuple(
      fc.constantFrom(...SEARCH_KEYS),
      fc.oneof(
        anyText,
        fc.integer().map(String),
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
      )
    ),
    { maxLength: 6 }
  )
  .map((pairs) => new URLSearchParams(pairs).toString())

export interface FuzzTarget {
  readonly base: string
  readonly writeKey: string
  readonly fullKey: string
  readonly sessionToken: string
  readonly projectId: string
  readonly alive: () => boolean
}

export const fuzz = async (t: FuzzTarget, runs: number): Promise<FuzzResult> => {
  const violations: Array<string> = []
  const known = new Map<string, number>()
  let requests = 0
  const check = (a: Answer, sentId?: string, path = "") => {
    requests++
    const problem = contractProblem(a, sentId)
    const match = KNOWN_FUZZ.find((k) => k.test(path, a.status))
    if (problem !== undefined && match !== undefined) known.set(match.finding, (known.get(match.finding) ?? 0) + 1)
    else if (problem !== undefined) throw new Error(problem)
    if (!t.alive()) throw new Error("the API process died")
  }
  const property = async (name: string, prop: fc.IAsyncProperty<never> | fc.IAsyncPropertyWithHooks<never>) => {
    const result = await fc.check(prop as fc.IAsyncProperty<unknown>, { numRuns: runs, endOnFailure: true })
    if (result.failed) {
      violations.push(`${name}: ${fc.defaultReportMessage(result) ?? "failed"}`.slice(0, 3000))
    }
  }
  await property(
    "ingestion bodies",
    fc.asyncProperty(ingestBody, fc.constantFrom("/api/v1/ingest", "/api/v1/ingest/single"), async (body, path) =>
      check(
        await send(t.base, path, {
          method: "POST",
          headers: { "x-api-key": t.writeKey, "content-type": "application/json" },
          body
        })
      )
    ) as never
  )
  await property(
    "OTLP protobuf bytes",
    fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, gzip) =>
      check(
        await send(t.base, "/v1/otlp/logs", {
          method: "POST",
          headers: {
            "x-api-key": t.writeKey,
            "content-type": "application/x-protobuf",
            ...(gzip ? { "content-encoding": "gzip" } : {})
          },
          body: gzip ? gzipSync(bytes) : bytes
        })
      )
    ) as never
  )
  await property(
    "OTLP JSON",
    fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) =>
      check(
        await send(t.base, "/v1/otlp/logs", {
          method: "POST",
          headers: { "x-api-key": t.writeKey, "content-type": "application/json" },
          body: JSON.stringify(value)
        })
      )
    ) as never
  )
  await property(
    "search parameters",
    fc.asyncProperty(queryArb, fc.boolean(), async (qs, withSession) => {
      const path = `/api/v1/logs${withSession ? "/stats" : ""}?${qs}`
      const headers = withSession ? { authorization: `Bearer ${t.sessionToken}` } : { "x-api-key": t.fullKey }
      check(await send(t.base, path, { headers }), undefined, path)
    }) as never
  )
  await property(
    "headers",
    fc.asyncProperty(
      fc.oneof(headerText, fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/)),
      fc.option(fc.oneof(headerText, fc.constant(t.fullKey), fc.constant(`tl_${"a".repeat(40)}`))),
      fc.option(
        fc.oneof(
          headerText,
          fc.constant(`threadline_session=${t.sessionToken}`),
          headerText.map((v) => `threadline_session=${v}`)
        )
      ),
      fc.option(fc.oneof(headerText, fc.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/))),
      fc.constantFrom("/api/v1/logs", "/api/v1/auth/me", "/api/v1/orgs", "/health", "/nope"),
      async (requestId, key, cookie, traceparent, path) => {
        const headers: Record<string, string> = { "x-request-id": requestId }
        if (key !== null) headers["x-api-key"] = key
        if (cookie !== null) headers.cookie = cookie
        if (traceparent !== null) headers.traceparent = traceparent
        check(await send(t.base, path, { headers }), requestId.trim())
      }
    ) as never
  )
  return {
    figures: { fuzzRuns: runs * 5, fuzzRequests: requests, fuzzViolations: violations.length },
    violations,
    known: [...known].map(([finding, n]) => `${n} × fuzz answer matching ${finding}`)
  }
}
