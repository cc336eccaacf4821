/**
 * Ingestion bodies built to expand once decoded, over real HTTP (test/Logs/AppServer.ts): a shared resource × many
 * OTLP records, huge or deep metadata, millions of empty protobuf messages, and lone surrogates. Each is refused
 * (the request with 413/400 before any per-entry work, or the one entry with its index) and nothing else is lost.
 */
import { gzipSync } from "node:zlib"
import { expect, layer } from "@effect/vitest"
import root from "@opentelemetry/otlp-transformer/build/src/generated/root.js"
import { Effect } from "effect"
import { logsApp, post, searchAll, Tenants } from "./AppServer.js"

const MiB = 1024 * 1024
const encoder = (
  root as unknown as {
    opentelemetry: {
      proto: {
        collector: {
          logs: { v1: { ExportLogsServiceRequest: { encode(m: unknown): { finish(): Uint8Array } } } }
        }
      }
    }
  }
).opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest

const str = (stringValue: string) => ({ stringValue })
const kv = (key: string, value: unknown) => ({ key, value })

/** One resourceLogs: `attributes` on the resource, `n` records whose body is `${label}-${i}`. */
const resourceLogs = (service: string, extra: ReadonlyArray<unknown>, label: string, n: number) => ({
  resource: { attributes: [kv("service.name", str(service)), ...extra] },
  scopeLogs: [
    {
      scope: { name: "amp", version: "1" },
      logRecords: Array.from({ length: n }, (_, i) => ({ severityNumber: 9, body: str(`${label}-${i}`) }))
    }
  ]
})

const otlpJson = (...rls: ReadonlyArray<unknown>) => JSON.stringify({ resourceLogs: rls })
const otlpProto = (...rls: ReadonlyArray<unknown>) => encoder.encode({ resourceLogs: rls }).finish()

/** A kvlist AnyValue nested `levels` deep (levels 1: a scalar). */
const nestedValue = (levels: number): unknown =>
  levels <= 1 ? { intValue: 1 } : { kvlistValue: { values: [kv("n", nestedValue(levels - 1))] } }

/** The largest heapUsed growth seen while `effect` runs (sampled every 5 ms), with its result. */
const heapGrowth = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const before = process.memoryUsage().heapUsed
    let max = before
    const timer = setInterval(() => {
      max = Math.max(max, process.memoryUsage().heapUsed)
    }, 5)
    const started = Date.now()
    const result = yield* Effect.ensuring(
      effect,
      Effect.sync(() => clearInterval(timer))
    )
    return { result, growthMB: (max - before) / MiB, seconds: (Date.now() - started) / 1000 }
  })

const errorShape = (json: Record<string, unknown>, code: number) => {
  expect(json).toMatchObject({ error: true, code })
  expect([typeof json.name, typeof json.message, typeof json.reqId]).toEqual(["string", "string", "string"])
}

layer(logsApp("logs-amplification"), { timeout: 180_000 })("amplification at ingestion", (it) => {
  it.effect(
    "a 1 MiB resource shared by 300 OTLP records is a 413 before any record is stored (JSON, protobuf, gzip)",
    () =>
      Effect.gen(function* () {
        const { a } = yield* Tenants
        const big = [kv("big", str("x".repeat(MiB)))]
        const bodies: ReadonlyArray<readonly [string, string | Uint8Array, Record<string, string>]> = [
          ["json", otlpJson(resourceLogs("amp-shared", big, "shared-json", 300)), {}],
          [
            "protobuf",
            otlpProto(resourceLogs("amp-shared", big, "shared-proto", 300)),
            { "content-type": "application/x-protobuf" }
          ],
          [
            "protobuf+gzip",
            gzipSync(otlpProto(resourceLogs("amp-shared", big, "shared-gzip", 300))),
            { "content-type": "application/x-protobuf", "content-encoding": "gzip" }
          ]
        ]
        for (const [, body, headers] of bodies) {
          const { result: res, seconds } = yield* heapGrowth(post("/v1/otlp/logs", a.writeKey, body, headers))
          expect(res.status).toBe(413)
          errorShape(res.json, 413)
          expect(res.json.message).toMatch(/expands to more than 41943040 bytes/)
          expect(seconds).toBeLessThan(10)
        }
        expect(yield* searchAll("service=amp-shared", a.fullKey)).toHaveLength(0)
      })
  )

  it.effect("a resource over the metadata cap refuses its own records, with their indexes; the others are stored", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const body = otlpJson(
        resourceLogs("amp-small", [], "small-a", 2),
        resourceLogs("amp-big", [kv("big", str("y".repeat(MiB)))], "big", 3),
        resourceLogs("amp-small", [kv("deep", nestedValue(20))], "deep", 1),
        resourceLogs("amp-small", [], "small-b", 1)
      )
      const res = yield* post("/v1/otlp/logs", a.writeKey, body)
      expect(res.status).toBe(200)
      expect(res.json).toEqual({
        partialSuccess: {
          rejectedLogRecords: 4,
          errorMessage: "4 log records rejected; first: #2 metadata: larger than 65536 bytes serialised (resource)"
        }
      })
      const stored = yield* searchAll("service=amp-small", a.fullKey)
      expect(stored.map((l) => l.message).sort()).toEqual(["small-a-0", "small-a-1", "small-b-0"])
      expect(stored.find((l) => l.message === "small-a-0")?.metadata).toEqual({
        resource: { "service.name": "amp-small" },
        scope: { name: "amp", version: "1" }
      })
      expect(yield* searchAll("service=amp-big", a.fullKey)).toHaveLength(0)
    })
  )

  it.effect("LogTide metadata: 64 KiB and 20 levels are stored, one byte or one level more is rejected alone", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      // {"v":"…"} is 8 bytes around the value
      const exact = { v: "é".repeat((64 * 1024 - 8) / 2) }
      expect(Buffer.byteLength(JSON.stringify(exact))).toBe(64 * 1024)
      const nest = (levels: number): Record<string, unknown> => (levels <= 1 ? { n: 1 } : { n: nest(levels - 1) })
      const entry = (message: string, metadata: unknown) => ({ service: "amp-meta", level: "info", message, metadata })
      const res = yield* post(
        "/api/v1/ingest",
        a.writeKey,
        JSON.stringify([
          entry("exact-size", exact),
          entry("one-byte-more", { v: `${exact.v}a` }),
          entry("twenty-levels", nest(20)),
          entry("twenty-one-levels", nest(21)),
          entry("huge", { v: "z".repeat(3 * MiB) })
        ])
      )
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({
        received: 2,
        rejected: [
          { index: 1, reason: "metadata: larger than 65536 bytes serialised" },
          { index: 3, reason: "metadata: nested deeper than 20 levels" },
          { index: 4, reason: "metadata: larger than 65536 bytes serialised" }
        ]
      })
      const stored = yield* searchAll("service=amp-meta", a.fullKey)
      expect(stored.map((l) => l.message).sort()).toEqual(["exact-size", "twenty-levels"])
      expect(stored.find((l) => l.message === "twenty-levels")?.metadata).toEqual(nest(20))
    })
  )

  it.effect("10 MiB of empty repeated KeyValues in protobuf is a 413 at once, plain or gzip, without decoding", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      // ExportLogsServiceRequest { resource_logs { resource { attributes {} × 5,000,000 } } }
      const n = 5_000_000
      const attrs = Buffer.alloc(2 * n)
      for (let i = 0; i < n; i++) attrs[2 * i] = 0x0a
      const frame = (inner: Uint8Array) => {
        const len: Array<number> = []
        for (let v = inner.length; ; v = Math.floor(v / 128)) {
          if (v < 128) {
            len.push(v)
            break
          }
          len.push((v % 128) | 128)
        }
        return Buffer.concat([Buffer.from([0x0a, ...len]), inner])
      }
      const body = frame(frame(attrs))
      expect(body.length).toBeLessThan(10 * MiB)
      for (const gzip of [false, true]) {
        const {
          result: res,
          growthMB,
          seconds
        } = yield* heapGrowth(
          post("/v1/otlp/logs", a.writeKey, gzip ? gzipSync(body) : body, {
            "content-type": "application/x-protobuf",
            ...(gzip ? { "content-encoding": "gzip" } : {})
          })
        )
        expect(res.status).toBe(413)
        errorShape(res.json, 413)
        expect(seconds).toBeLessThan(10)
        // decoding them took ~230 MB of heap (565 MB with toObject); the request's own copies are ~20 MB
        expect(growthMB).toBeLessThan(150)
      }
      // the same count of empty JSON objects is refused before JSON.parse allocates them
      const json = `{"resourceLogs":[{"resource":{"attributes":[${"{},".repeat(3_000_000)}{}]}}]}`
      const { result: res, growthMB } = yield* heapGrowth(post("/v1/otlp/logs", a.writeKey, json))
      expect(res.status).toBe(413)
      expect(growthMB).toBeLessThan(150)
    })
  )

  it.effect("600,000 empty log records (1.2 MB, 1.2 KB gzipped) are a 413 TooManyEntries before decoding", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const n = 600_000
      // ExportLogsServiceRequest { resource_logs { scope_logs { log_records {} × 600,000 } } }
      const records = Buffer.alloc(2 * n)
      for (let i = 0; i < n; i++) records[2 * i] = 0x12
      const frame = (field: number, inner: Uint8Array) => {
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
      const proto = frame(1, frame(2, records))
      const json = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[${"{},".repeat(n - 1)}{}]}]}]}`
      const protobuf = { "content-type": "application/x-protobuf" }
      const bodies: ReadonlyArray<readonly [string, string | Uint8Array, Record<string, string>]> = [
        ["protobuf", proto, protobuf],
        ["protobuf+gzip", gzipSync(proto), { ...protobuf, "content-encoding": "gzip" }],
        ["json", json, {}],
        ["json+gzip", gzipSync(json), { "content-encoding": "gzip" }],
        // escapes in the key and primitives as records do not hide them
        ["json, escaped key", json.replace('"logRecords"', '"log\\u0052ecords"').replaceAll("{},", "1,"), {}]
      ]
      expect(gzipSync(proto).length).toBeLessThan(1500)
      for (const [label, body, headers] of bodies) {
        const { result: res, growthMB, seconds } = yield* heapGrowth(post("/v1/otlp/logs", a.writeKey, body, headers))
        expect({ label, status: res.status }).toEqual({ label, status: 413 })
        errorShape(res.json, 413)
        expect(res.json).toMatchObject({ name: "TooManyEntries" })
        expect(res.json.message).toMatch(/more than 10000 entries in one request; at most 10000 are accepted/)
        // building them took ~175 MB of heap per request
        expect(growthMB).toBeLessThan(100)
        expect(seconds).toBeLessThan(5)
      }
      // 10,000 records, the most one request carries, still pass (protobuf and JSON)
      const legit = resourceLogs("amp-many", [], "many", 10_000)
      for (const [body, headers] of [
        [otlpProto(legit), protobuf],
        [otlpJson(legit), {}]
      ] as const) {
        const res = yield* post("/v1/otlp/logs", a.writeKey, body, headers)
        expect(res.status).toBe(200)
      }
      expect(yield* searchAll("service=amp-many", a.fullKey)).toHaveLength(20_000)
    })
  )

  it.effect("bodies nested far deeper than any acceptable entry are a 400, JSON and protobuf, never a 5xx", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const depth = 200_000
      const deepJson = `[{"service":"amp-deep","level":"info","message":"m","metadata":{"a":${"[".repeat(depth)}${"]".repeat(depth)}}}]`
      const json = yield* post("/api/v1/ingest", a.writeKey, deepJson)
      expect(json.status).toBe(400)
      errorShape(json.json, 400)
      expect(json.json.message).toMatch(/nested deeper than 96 levels/)
      const deepValue = `${'{"arrayValue":{"values":['.repeat(depth / 3)}{"intValue":1}${"]}}".repeat(depth / 3)}`
      const otlp = yield* post(
        "/v1/otlp/logs",
        a.writeKey,
        `{"resourceLogs":[{"resource":{"attributes":[{"key":"deep","value":${deepValue}}]}}]}`
      )
      expect(otlp.status).toBe(400)
      // AnyValue { array_value { values { … } } } 100,000 times, as protobuf
      let inner: Buffer = Buffer.from([0x18, 0x01]) // AnyValue { int_value: 1 }
      const frame = (field: number, bytes: Buffer) => {
        const len: Array<number> = []
        for (let v = bytes.length; ; v = Math.floor(v / 128)) {
          if (v < 128) {
            len.push(v)
            break
          }
          len.push((v % 128) | 128)
        }
        return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), bytes])
      }
      for (let i = 0; i < 2000; i++) inner = frame(5, frame(1, inner))
      const proto = frame(1, frame(2, frame(2, frame(5, inner)))) // request → resource_logs → scope_logs → record.body
      const res = yield* post("/v1/otlp/logs", a.writeKey, proto, { "content-type": "application/x-protobuf" })
      expect(res.status).toBe(400)
      errorShape(res.json, 400)
      expect(yield* searchAll("service=amp-deep", a.fullKey)).toHaveLength(0)
    })
  )

  it.effect("a lone surrogate rejects its own entry (message, service, metadata value or key), not the batch", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const e = (message: string, extra: Record<string, unknown> = {}) => ({
        service: "amp-utf16",
        level: "info",
        message,
        ...extra
      })
      const res = yield* post(
        "/api/v1/ingest",
        a.writeKey,
        JSON.stringify([
          e("good-1", { metadata: { pair: "🚀" } }),
          e("bad \ud800 message"),
          e("bad-value", { metadata: { k: "\udc00" } }),
          e("bad-key", { metadata: { nested: { "\ud83d": 1 } } }),
          e("bad-service", { service: "svc\ud800" }),
          e("good-2", { metadata: { literal: "\\ud800 written out" } })
        ])
      )
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({
        received: 2,
        rejected: [
          { index: 1, reason: "message: must not contain a lone surrogate" },
          { index: 2, reason: "metadata: must not contain a lone surrogate" },
          { index: 3, reason: "metadata: must not contain a lone surrogate" },
          { index: 4, reason: "service: must not contain a lone surrogate" }
        ]
      })
      const stored = yield* searchAll("service=amp-utf16", a.fullKey)
      expect(stored.map((l) => l.message).sort()).toEqual(["good-1", "good-2"])
      expect(stored.find((l) => l.message === "good-2")?.metadata).toEqual({ literal: "\\ud800 written out" })
      // OTLP: in a record's body, in a record attribute, and in the resource (all of its records)
      const otlp = yield* post(
        "/v1/otlp/logs",
        a.writeKey,
        otlpJson(
          {
            resource: { attributes: [kv("service.name", str("amp-utf16"))] },
            scopeLogs: [
              {
                logRecords: [
                  { body: str("otlp-good") },
                  { body: str("otlp \udfff body") },
                  { body: str("otlp-attr"), attributes: [kv("k", str("\ud800"))] }
                ]
              }
            ]
          },
          resourceLogs("amp-utf16", [kv("r", str("\ud800"))], "bad-resource", 2)
        )
      )
      expect(otlp.status).toBe(200)
      expect(otlp.json).toMatchObject({ partialSuccess: { rejectedLogRecords: 4 } })
      const after = yield* searchAll("service=amp-utf16", a.fullKey)
      expect(after.map((l) => l.message).sort()).toEqual(["good-1", "good-2", "otlp-good"])
    })
  )
})
