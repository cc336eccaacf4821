/**
 * Bad input against the running API: fast-check over ingestion bodies (lone surrogates included), OTLP protobuf bytes
 * (plain and gzip), search parameters and the headers the server interprets, then fixed bodies built to expand once
 * decoded. Never a 5xx, the process never dies, every answer carries a request id (the one sent when valid), every
 * 4xx has the error shape; a counterexample is printed shrunk, with fast-check's seed.
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
/** Text with lone surrogates among other characters: JSON carries them, Postgres refuses them. */
const loneText = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.constantFrom("a", "🚀", "\\")
  ),
  minLength: 1,
  maxLength: 20
})

const entryArb = fc.record(
  {
    time: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      anyText,
      fc.integer()
    ),
    service: fc.oneof(anyText, fc.constant(""), fc.string({ minLength: 101, maxLength: 120 }), loneText),
    level: fc.oneof(fc.constantFrom("debug", "info", "warn", "error", "critical", "fatal", "INFO", ""), anyText),
    message: fc.oneof(anyText, fc.constant(""), fc.integer(), loneText),
    metadata: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.dictionary(loneText, loneText)),
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
  const amplified = await amplification(t, check)
  violations.push(...amplified.violations)
  return {
    figures: {
      fuzzRuns: runs * 5,
      fuzzRequests: requests,
      fuzzViolations: violations.length,
      fuzzAmplificationShapes: amplified.shapes,
      fuzzAmplificationMaxSeconds: amplified.maxSeconds
    },
    violations,
    known: [...known].map(([finding, n]) => `${n} × fuzz answer matching ${finding}`)
  }
}

const MiB = 1024 * 1024
const kv = (key: string, value: unknown) => ({ key, value })
const str = (stringValue: string) => ({ stringValue })
/** Protobuf length-delimited field `field` around `inner`. */
const frame = (field: number, inner: Uint8Array): Buffer => {
  const len: Array<number> = []
  for (let v = inner.length; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      len.push(v)
      break
    }
    len.push((v % 128) | 128)
  }
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), inner])
}
const protoString = (field: number, text: string) => frame(field, Buffer.from(text))
/** ExportLogsServiceRequest: one resource with `attrs` (encoded KeyValues), `records` log records of body "r". */
const protoRequest = (attrs: Uint8Array, records: number) => {
  const record = frame(2, frame(5, protoString(1, "r"))) // log_records { body { string_value } }
  const scopeLogs = frame(2, Buffer.concat(Array.from({ length: records }, () => record)))
  return frame(1, Buffer.concat([frame(1, attrs), scopeLogs]))
}
const protoKv = (key: string, value: string) =>
  frame(1, Buffer.concat([protoString(1, key), frame(2, protoString(1, value))]))

interface Shape {
  readonly name: string
  readonly path: string
  readonly body: () => string | Uint8Array
  readonly headers?: Record<string, string>
  /** The statuses that keep the contract for this body. */
  readonly expect: ReadonlyArray<number>
  /** What the reply must say, when it must say something. */
  readonly reply?: (body: unknown) => string | undefined
}

const rejectedAll = (n: number) => (body: unknown) => {
  // a protobuf reply (ExportLogsServiceResponse) is read as text: its error message says the count
  if (typeof body === "string") {
    const count = /(\d+) log records rejected/.exec(body)?.[1]
    return count === String(n) ? undefined : `expected ${n} rejected records, got ${JSON.stringify(body)}`
  }
  const b = body as {
    received?: number
    rejected?: ReadonlyArray<unknown>
    partialSuccess?: { rejectedLogRecords?: number }
  }
  const rejected = b.rejected?.length ?? Number(b.partialSuccess?.rejectedLogRecords ?? 0)
  return rejected === n ? undefined : `expected ${n} rejected entries, got ${JSON.stringify(body).slice(0, 300)}`
}

const otlpJson = (resourceAttrs: ReadonlyArray<unknown>, records: ReadonlyArray<unknown>) =>
  JSON.stringify({ resourceLogs: [{ resource: { attributes: resourceAttrs }, scopeLogs: [{ logRecords: records }] }] })
const records = (n: number) => Array.from({ length: n }, (_, i) => ({ body: str(`amp-${i}`) }))
const PROTO = { "content-type": "application/x-protobuf" }
const GZIP = { "content-encoding": "gzip" }

const emptyKeyValues = () => {
  // ExportLogsServiceRequest { resource_logs { resource { attributes {} × 5,000,000 } } }: 10 MB
  const attrs = Buffer.alloc(2 * 5_000_000)
  for (let i = 0; i < attrs.length; i += 2) attrs[i] = 0x0a
  return frame(1, frame(1, attrs))
}
/** ExportLogsServiceRequest { resource_logs { scope_logs { log_records {} × 600,000 } } }: 1.2 MB, 1.2 KB gzipped */
const emptyRecords = () => {
  const lrs = Buffer.alloc(2 * 600_000)
  for (let i = 0; i < lrs.length; i += 2) lrs[i] = 0x12
  return frame(1, frame(2, lrs))
}
const emptyRecordsJson = () => `{"resourceLogs":[{"scopeLogs":[{"logRecords":[${"{},".repeat(599_999)}{}]}]}]}`
/** The 413 of too many records, refused before they are decoded. */
const tooManyEntries = (body: unknown) =>
  (body as { name?: unknown } | null)?.name === "TooManyEntries"
    ? undefined
    : `expected TooManyEntries, got ${JSON.stringify(body).slice(0, 300)}`
const deepProto = (levels: number) => {
  let value: Buffer = Buffer.from([0x18, 0x01])
  for (let i = 0; i < levels; i++) value = frame(5, frame(1, value)) // AnyValue { array_value { values { … } } }
  return frame(1, frame(2, frame(2, frame(5, value))))
}
const nest = (levels: number): string => `${'{"n":'.repeat(levels)}1${"}".repeat(levels)}`
const entry = (extra: string) => `{"service":"amp","level":"info","message":"m"${extra}}`

/** Bodies built to expand once decoded (shared resource × records, depth, size, empty messages) and lone surrogates. */
const SHAPES: ReadonlyArray<Shape> = [
  {
    name: "OTLP JSON: a 1 MiB resource shared by 300 records",
    path: "/v1/otlp/logs",
    body: () => otlpJson([kv("big", str("x".repeat(MiB)))], records(300)),
    expect: [413]
  },
  {
    name: "OTLP JSON: a 1 MiB resource shared by 10,000 records",
    path: "/v1/otlp/logs",
    body: () => otlpJson([kv("big", str("x".repeat(MiB)))], records(10_000)),
    expect: [413]
  },
  {
    name: "OTLP protobuf: a 1 MiB resource shared by 10,000 records",
    path: "/v1/otlp/logs",
    body: () => protoRequest(protoKv("big", "x".repeat(MiB)), 10_000),
    headers: PROTO,
    expect: [413]
  },
  {
    name: "OTLP protobuf gzip: a 1 MiB resource shared by 10,000 records",
    path: "/v1/otlp/logs",
    body: () => gzipSync(protoRequest(protoKv("big", "x".repeat(MiB)), 10_000)),
    headers: { ...PROTO, ...GZIP },
    expect: [413]
  },
  {
    name: "OTLP JSON: a 100 KiB resource shared by 20 records (each over the metadata cap)",
    path: "/v1/otlp/logs",
    body: () => otlpJson([kv("big", str("x".repeat(100 * 1024)))], records(20)),
    expect: [200],
    reply: rejectedAll(20)
  },
  {
    name: "OTLP protobuf: 10 MB of empty repeated KeyValues",
    path: "/v1/otlp/logs",
    body: emptyKeyValues,
    headers: PROTO,
    expect: [413]
  },
  {
    name: "OTLP protobuf gzip: 10 MB of empty repeated KeyValues",
    path: "/v1/otlp/logs",
    body: () => gzipSync(emptyKeyValues()),
    headers: { ...PROTO, ...GZIP },
    expect: [413]
  },
  {
    name: "OTLP JSON: 3,000,000 empty attribute objects",
    path: "/v1/otlp/logs",
    body: () => `{"resourceLogs":[{"resource":{"attributes":[${"{},".repeat(3_000_000)}{}]}}]}`,
    expect: [413]
  },
  {
    name: "OTLP protobuf: 600,000 empty log records",
    path: "/v1/otlp/logs",
    body: emptyRecords,
    headers: PROTO,
    expect: [413],
    reply: tooManyEntries
  },
  {
    name: "OTLP protobuf gzip: 600,000 empty log records",
    path: "/v1/otlp/logs",
    body: () => gzipSync(emptyRecords()),
    headers: { ...PROTO, ...GZIP },
    expect: [413],
    reply: tooManyEntries
  },
  {
    name: "OTLP JSON: 600,000 empty log records",
    path: "/v1/otlp/logs",
    body: emptyRecordsJson,
    expect: [413],
    reply: tooManyEntries
  },
  {
    name: "OTLP JSON gzip: 600,000 empty log records",
    path: "/v1/otlp/logs",
    body: () => gzipSync(emptyRecordsJson()),
    headers: GZIP,
    expect: [413],
    reply: tooManyEntries
  },
  {
    name: "OTLP protobuf: a record body nested 4,000 deep",
    path: "/v1/otlp/logs",
    body: () => deepProto(2000),
    headers: PROTO,
    expect: [400]
  },
  {
    name: "OTLP protobuf: a record body nested 30 deep (over the metadata depth, under the body's)",
    path: "/v1/otlp/logs",
    body: () => deepProto(30),
    headers: PROTO,
    expect: [200],
    reply: rejectedAll(1)
  },
  {
    name: "LogTide: metadata nested 2,000,000 deep",
    path: "/api/v1/ingest",
    body: () => `[${entry(`,"metadata":{"a":${"[".repeat(2_000_000)}${"]".repeat(2_000_000)}}`)}]`,
    expect: [400]
  },
  {
    name: "LogTide: metadata nested 21 and 40 deep beside a good entry",
    path: "/api/v1/ingest",
    body: () => `[${entry(`,"metadata":${nest(21)}`)},${entry(`,"metadata":${nest(40)}`)},${entry("")}]`,
    expect: [200],
    reply: rejectedAll(2)
  },
  {
    name: "LogTide: one entry with 9 MB of metadata",
    path: "/api/v1/ingest",
    body: () => `[${entry(`,"metadata":{"v":"${"y".repeat(9_000_000)}"}`)}]`,
    expect: [200],
    reply: rejectedAll(1)
  },
  {
    name: "LogTide gzip: 100 entries with 90 KiB of metadata each",
    path: "/api/v1/ingest",
    body: () =>
      gzipSync(
        `[${Array.from({ length: 100 }, () => entry(`,"metadata":{"v":"${"y".repeat(90 * 1024)}"}`)).join(",")}]`
      ),
    headers: GZIP,
    expect: [200],
    reply: rejectedAll(100)
  },
  {
    name: "LogTide: lone surrogates in message, service, metadata value and key beside good entries",
    path: "/api/v1/ingest",
    body: () =>
      JSON.stringify([
        { service: "amp", level: "info", message: "good" },
        { service: "amp", level: "info", message: "lone \ud800" },
        { service: "amp\udc00", level: "info", message: "m" },
        { service: "amp", level: "info", message: "m", metadata: { k: "\udfff" } },
        { service: "amp", level: "info", message: "m", metadata: { "\ud83d": 1 } },
        { service: "amp", level: "info", message: "good 🚀", metadata: { pair: "🚀" } }
      ]),
    expect: [200],
    reply: rejectedAll(4)
  },
  {
    name: "/single: a lone surrogate in the message",
    path: "/api/v1/ingest/single",
    body: () => JSON.stringify({ service: "amp", level: "info", message: "\ud800" }),
    expect: [400]
  },
  {
    name: "OTLP JSON: lone surrogates in a record body and attribute, and in the resource",
    path: "/v1/otlp/logs",
    body: () =>
      JSON.stringify({
        resourceLogs: [
          {
            scopeLogs: [
              {
                logRecords: [
                  { body: str("good") },
                  { body: str("lone \udfff") },
                  { body: str("m"), attributes: [kv("k", str("\ud800"))] }
                ]
              }
            ]
          },
          { resource: { attributes: [kv("r", str("\ud800"))] }, scopeLogs: [{ logRecords: records(2) }] }
        ]
      }),
    expect: [200],
    reply: rejectedAll(4)
  }
]

const amplification = async (
  t: FuzzTarget,
  check: (a: Answer, sentId?: string, path?: string) => void
): Promise<{ shapes: number; maxSeconds: number; violations: Array<string> }> => {
  const violations: Array<string> = []
  let maxSeconds = 0
  for (const shape of SHAPES) {
    const started = Date.now()
    const answer = await send(t.base, shape.path, {
      method: "POST",
      headers: { "x-api-key": t.writeKey, "content-type": "application/json", ...shape.headers },
      body: shape.body()
    })
    maxSeconds = Math.max(maxSeconds, (Date.now() - started) / 1000)
    try {
      check(answer, undefined, shape.path)
      if (!shape.expect.includes(answer.status)) {
        throw new Error(
          `status ${answer.status}, expected ${shape.expect.join(" or ")}: ${JSON.stringify(answer.body).slice(0, 300)}`
        )
      }
      const problem = shape.reply?.(answer.body)
      if (problem !== undefined) throw new Error(problem)
    } catch (e) {
      violations.push(`amplification: ${shape.name}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  return { shapes: SHAPES.length, maxSeconds: +maxSeconds.toFixed(2), violations }
}
