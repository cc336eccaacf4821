import { gzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import * as otelApi from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { JsonLogsSerializer, ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs"
import root from "@opentelemetry/otlp-transformer/build/src/generated/root.js"
import { ConfigProvider, Effect, Exit } from "effect"
import fc from "fast-check"
import { decompress, formatOf, scanJson } from "../../src/Logs/Body.js"
import { LogsConfig } from "../../src/Logs/LogsConfig.js"
import { nestingLimit } from "../../src/Logs/Body.js"
import { SerializedMetadata, validateEntries } from "../../src/Logs/Entry.js"
import {
  decodeProtobuf,
  decodeRequest as decodeWith,
  encodeResponse,
  levelOf,
  responseBody,
  scanProtobuf
} from "../../src/Logs/Otlp.js"

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN_ID = "00f067aa0ba902b7"

/** Log records made by the OpenTelemetry JS logs SDK itself. */
const sdkRecords = () => {
  const exporter = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ "service.name": "checkout", "deployment.environment": "prod" }),
    processors: [new SimpleLogRecordProcessor(exporter)]
  })
  const logger = provider.getLogger("payments", "1.2.3")
  const spanContext = { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 }
  const { trace, context } = otelApi
  const ctx = trace.setSpanContext(context.active(), spanContext)
  logger.emit({
    severityNumber: SeverityNumber.ERROR,
    severityText: "ERROR",
    body: "payment failed: carte refusée ✗",
    attributes: { "http.status_code": 502, retry: true, ratio: 0.25, tags: ["a", "b"] },
    timestamp: new Date("2026-01-02T03:04:05.678Z"),
    context: ctx
  })
  logger.emit({ severityNumber: SeverityNumber.WARN2, body: { structured: { n: 1 } } })
  logger.emit({ severityText: "debug", body: "no number, text only" })
  logger.emit({ severityNumber: SeverityNumber.FATAL, body: "" })
  return exporter.getFinishedLogRecords()
}
const limits = { maxMessageBytes: 65536, maxMetadataBytes: 65536, maxMetadataDepth: 20 }
const otlpLimits = {
  ...limits,
  maxEntries: 10_000,
  maxExpandedBytes: 40 * 1024 * 1024,
  maxNesting: nestingLimit(20)
}

/** The entries with their pre-serialised metadata read back as objects. */
const decodeRequest = (format: "json" | "protobuf", bytes: Uint8Array) =>
  Effect.map(decodeWith(format, bytes, otlpLimits), (entries) =>
    entries.map((e) => {
      const entry = e as Record<string, unknown>
      return entry.metadata instanceof SerializedMetadata
        ? { ...entry, metadata: JSON.parse(entry.metadata.json) as unknown }
        : entry
    })
  )

const check = (entries: ReadonlyArray<Record<string, unknown>>) => {
  expect(entries).toHaveLength(4)
  const [first, second, third, fourth] = entries
  expect(first).toMatchObject({
    time: "2026-01-02T03:04:05.678Z",
    service: "checkout",
    level: "error",
    message: "payment failed: carte refusée ✗",
    trace_id: TRACE_ID,
    span_id: SPAN_ID,
    metadata: {
      "http.status_code": 502,
      retry: true,
      ratio: 0.25,
      tags: ["a", "b"],
      resource: { "service.name": "checkout", "deployment.environment": "prod" },
      scope: { name: "payments", version: "1.2.3" }
    }
  })
  expect(second).toMatchObject({ level: "warn", message: '{"structured":{"n":1}}' })
  expect(second).not.toHaveProperty("trace_id")
  expect(third).toMatchObject({ level: "debug" })
  expect(fourth).toMatchObject({ level: "critical", message: "" })
  // The empty-bodied record is refused by the common validation, with its index.
  const { entries: valid, rejected } = validateEntries(entries, new Date(), limits)
  expect(valid).toHaveLength(3)
  expect(rejected).toEqual([{ index: 3, reason: expect.stringMatching(/^message/) as unknown }])
}

describe("OTLP decoding of SDK-produced payloads", () => {
  it.effect("protobuf, as serialised by ProtobufLogsSerializer", () =>
    Effect.gen(function* () {
      const bytes = ProtobufLogsSerializer.serializeRequest(sdkRecords())
      expect(bytes).toBeDefined()
      check(yield* decodeRequest("protobuf", bytes ?? new Uint8Array()))
    })
  )

  it.effect("JSON, as serialised by JsonLogsSerializer", () =>
    Effect.gen(function* () {
      const bytes = JsonLogsSerializer.serializeRequest(sdkRecords())
      check(yield* decodeRequest("json", bytes ?? new Uint8Array()))
    })
  )

  it.effect("gzip-compressed protobuf", () =>
    Effect.gen(function* () {
      const raw = ProtobufLogsSerializer.serializeRequest(sdkRecords()) ?? new Uint8Array()
      const unzipped = yield* decompress(gzipSync(raw), "gzip", 1024 * 1024)
      check(yield* decodeRequest("protobuf", unzipped))
    })
  )

  it.effect("garbage bodies are refused whole", () =>
    Effect.gen(function* () {
      const bad = yield* Effect.exit(decodeRequest("protobuf", new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f])))
      expect(Exit.isFailure(bad)).toBe(true)
      const notJson = yield* Effect.flip(decodeRequest("json", new TextEncoder().encode("{nope")))
      expect(notJson._tag).toBe("InvalidBody")
      const wrongShape = yield* Effect.flip(decodeRequest("json", new TextEncoder().encode("[1]")))
      expect(wrongShape._tag).toBe("InvalidBody")
    })
  )

  it.effect("accepts snake_case protojson field names and enum names", () =>
    Effect.gen(function* () {
      const body = {
        resource_logs: [
          {
            resource: { attributes: [{ key: "service.name", value: { string_value: "svc" } }] },
            scope_logs: [
              {
                log_records: [
                  {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    severity_number: "SEVERITY_NUMBER_ERROR",
                    body: { string_value: "snake" },
                    trace_id: TRACE_ID.toUpperCase()
                  }
                ]
              }
            ]
          }
        ]
      }
      const [entry] = yield* decodeRequest("json", new TextEncoder().encode(JSON.stringify(body)))
      expect(entry).toMatchObject({ service: "svc", level: "error", message: "snake", trace_id: TRACE_ID })
      expect(entry?.time).toBe("2023-11-14T22:13:20.000Z")
    })
  )

  it("maps severity numbers by range and falls back to the text", () => {
    expect(levelOf("SEVERITY_NUMBER_WARN", undefined)).toBe("warn")
    expect(levelOf(0, "Critical")).toBe("critical")
    expect(levelOf(undefined, undefined)).toBe("info")
    expect(levelOf(3, "ERROR")).toBe("debug")
  })

  it("encodes a partial-success response the exporter can read", () => {
    const body = responseBody(2, "2 records rejected")
    const bytes = encodeResponse(body)
    const decoded = ProtobufLogsSerializer.deserializeResponse(bytes)
    expect(decoded.partialSuccess).toMatchObject({ errorMessage: "2 records rejected" })
    expect(Number(decoded.partialSuccess?.rejectedLogRecords)).toBe(2)
    expect(encodeResponse(responseBody(0, ""))).toHaveLength(0)
  })
})

/** Objects in a JSON-mapping tree (each is one decoded message), strings of `idKeys`/`descriptionKeys` too. */
const countObjects = (v: unknown): number => {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + countObjects(x), 0)
  if (typeof v !== "object" || v === null) return 0
  let n = 1
  for (const [k, x] of Object.entries(v)) {
    n += k === "idKeys" || k === "descriptionKeys" ? (x as ReadonlyArray<unknown>).length : countObjects(x)
  }
  return n
}

describe("decoded size, before decoding", () => {
  const request = (
    root as unknown as {
      opentelemetry: {
        proto: {
          collector: {
            logs: { v1: { ExportLogsServiceRequest: { encode(this: void, m: unknown): { finish(): Uint8Array } } } }
          }
        }
      }
    }
  ).opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest

  it("the protobuf scan counts exactly the messages protobufjs decodes", () => {
    const sdk = ProtobufLogsSerializer.serializeRequest(sdkRecords()) ?? new Uint8Array()
    const crafted = request
      .encode({
        resourceLogs: [
          {
            resource: {
              attributes: [{ key: "k", value: { kvlistValue: { values: [{ key: "a", value: { arrayValue: {} } }] } } }],
              entityRefs: [{ type: "t", idKeys: ["x", "y"], descriptionKeys: ["z"] }]
            },
            scopeLogs: [{ scope: { name: "s", attributes: [{}] }, logRecords: [{ body: { intValue: 5 } }, {}] }]
          }
        ]
      })
      .finish()
    for (const bytes of [sdk, crafted]) {
      const decoded = decodeProtobuf(bytes)
      if (decoded._tag !== "Right") throw new Error("expected a decodable body")
      // the request itself is not counted
      expect(scanProtobuf(bytes, otlpLimits)).toBe(countObjects(decoded.right) - 1)
    }
  })

  it("a known field is consumed as the decoder reads it, whatever its wire type says", () => {
    // LogRecord { time_unix_nano (fixed64) tagged as a varint }: the decoder takes the next 8 bytes as the time; read
    // by wire type, they would be a varint then 3 empty KeyValues
    const record = Buffer.from([0x08, 0x01, 0x32, 0x00, 0x32, 0x00, 0x32, 0x00, 0x01])
    const request = Buffer.from([0x0a, 13, 0x12, 11, 0x12, 9, ...record])
    const decoded = decodeProtobuf(request)
    if (decoded._tag !== "Right") throw new Error("expected a decodable body")
    expect(scanProtobuf(request, otlpLimits)).toBe(3)
    expect(scanProtobuf(request, otlpLimits)).toBe(countObjects(decoded.right) - 1)
  })

  it("refuses before decoding: too many messages (413), too deep or malformed (400)", () => {
    const frame = (inner: Uint8Array) =>
      Buffer.concat([Buffer.from([0x0a, (inner.length % 128) | 128, inner.length >> 7]), inner])
    // request { resource_logs { resource { attributes {} × 1000 } } }
    const resource = frame(frame(Buffer.from(Array.from({ length: 1000 }, () => [0x0a, 0x00]).flat())))
    const small = { ...otlpLimits, maxExpandedBytes: 10_000 }
    expect(scanProtobuf(resource, otlpLimits)).toBe(1002)
    expect(scanProtobuf(resource, small)).toMatchObject({ _tag: "PayloadTooLarge" })
    expect(scanProtobuf(new Uint8Array([0x0a, 0x05, 0x0a]), otlpLimits)).toMatchObject({ _tag: "InvalidBody" })
    expect(scanProtobuf(new Uint8Array([0x0b, 0x0c]), otlpLimits)).toMatchObject({ _tag: "InvalidBody" })
    // brackets inside strings, after an escaped quote, do not count; after an escaped backslash they do
    expect(scanJson(new TextEncoder().encode('{"a":"[{\\"]"}'), otlpLimits)).toBe(1)
    expect(scanJson(new TextEncoder().encode('[{"a":"\\\\"},[]]'), otlpLimits)).toBe(3)
    expect(scanJson(new TextEncoder().encode("[".repeat(97)), otlpLimits)).toMatchObject({ _tag: "InvalidBody" })
    expect(scanJson(new TextEncoder().encode("[".repeat(96)), otlpLimits)).toBe(96)
    expect(scanJson(new TextEncoder().encode("[{}]".repeat(100)), small)).toMatchObject({ _tag: "PayloadTooLarge" })
  })

  it("the JSON scan counts exactly the objects and arrays JSON.parse makes, whatever the strings hold", () => {
    const containers = (v: unknown): number =>
      typeof v !== "object" || v === null ? 0 : 1 + Object.values(v).reduce((n: number, x) => n + containers(x), 0)
    const text = fc.string({ unit: fc.constantFrom("\\", '"', "[", "{", "}", "]", "a", "é", "🚀", "\n") })
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6, stringUnit: "binary" }), fc.array(text), (value, extra) => {
        const body = JSON.stringify([value, extra])
        expect(scanJson(new TextEncoder().encode(body), otlpLimits)).toBe(containers(JSON.parse(body)))
      }),
      { numRuns: 300 }
    )
  })

  it("log records over maxEntries are refused by the scans, before decoding, exactly above the cap", () => {
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
    const empty = (n: number) => frame(1, frame(2, Buffer.from(Array.from({ length: n }, () => [0x12, 0x00]).flat())))
    const capped = { ...otlpLimits, maxEntries: 100 }
    expect(scanProtobuf(empty(100), capped)).toBe(102)
    expect(scanProtobuf(empty(101), capped)).toMatchObject({
      _tag: "TooManyEntries",
      message: "more than 100 entries in one request; at most 100 are accepted"
    })
    const json = (n: number) => `{"resourceLogs":[{"scopeLogs":[{"logRecords":[${Array(n).fill("{}").join(",")}]}]}]}`
    const decode = (body: string) =>
      Effect.runSync(Effect.either(decodeWith("json", new TextEncoder().encode(body), capped)))
    expect(decode(json(100))).toMatchObject({ _tag: "Right" })
    expect(decode(json(101))).toMatchObject({ left: { _tag: "TooManyEntries" } })
  })

  it("the JSON scan counts at least the log records JSON.parse gives, whatever the spelling and spacing", () => {
    const records = fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 8 })
    fc.assert(
      fc.property(
        fc.array(fc.tuple(records, records, fc.boolean()), { maxLength: 4 }),
        fc.constantFrom(undefined, 0, 2, "\t"),
        (scopes, indent) => {
          const body = JSON.stringify(
            {
              resourceLogs: [
                {
                  scopeLogs: scopes.map(([a, b, snake]) =>
                    snake ? { log_records: a, name: "logRecords", x: [b] } : { logRecords: a, attributes: b }
                  )
                }
              ]
            },
            null,
            indent
          )
          const expected = scopes.reduce((n, [a]) => n + a.length, 0)
          const limits = { ...otlpLimits, maxEntries: expected }
          const entries = Effect.runSync(decodeWith("json", new TextEncoder().encode(body), limits))
          expect(entries).toHaveLength(expected)
          if (expected > 0) {
            const fewer = { ...otlpLimits, maxEntries: expected - 1 }
            const refused = Effect.runSync(Effect.flip(decodeWith("json", new TextEncoder().encode(body), fewer)))
            expect(refused._tag).toBe("TooManyEntries")
          }
        }
      ),
      { numRuns: 300 }
    )
  })

  it.effect("a service name is cut at 100 UTF-16 units without splitting a surrogate pair", () =>
    Effect.gen(function* () {
      const request = (name: string) => ({
        resourceLogs: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: name } }] },
            scopeLogs: [{ logRecords: [{ body: { stringValue: "m" } }] }]
          }
        ]
      })
      for (const [name, service] of [
        [`${"a".repeat(99)}🚀b`, "a".repeat(99)],
        [`${"a".repeat(98)}🚀b`, `${"a".repeat(98)}🚀`],
        [`${"a".repeat(100)}🚀`, "a".repeat(100)]
      ] as const) {
        const json = JSON.stringify(request(name))
        const [entry] = yield* decodeRequest("json", new TextEncoder().encode(json))
        expect(entry?.service).toBe(service)
        const { entries, rejected } = validateEntries([entry], new Date(), limits)
        expect(rejected).toEqual([])
        expect(entries[0]?.service).toBe(service)
      }
    })
  )

  it.effect("a record attribute named resource or scope wins over the shared one, as before", () =>
    Effect.gen(function* () {
      const body = {
        resourceLogs: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
            scopeLogs: [
              {
                scope: { name: "lib", version: "2" },
                logRecords: [
                  { body: { stringValue: "a" }, attributes: [{ key: "resource", value: { stringValue: "mine" } }] },
                  { body: { stringValue: "b" }, attributes: [{ key: "scope", value: { intValue: "7" } }] },
                  { body: { stringValue: "c" } }
                ]
              }
            ]
          }
        ]
      }
      const [a, b, c] = yield* decodeRequest("json", new TextEncoder().encode(JSON.stringify(body)))
      expect(a?.metadata).toEqual({ resource: "mine", scope: { name: "lib", version: "2" } })
      expect(b?.metadata).toEqual({ resource: { "service.name": "svc" }, scope: 7 })
      expect(c?.metadata).toEqual({ resource: { "service.name": "svc" }, scope: { name: "lib", version: "2" } })
    })
  )

  it.effect("the caps come from the environment, the expanded size defaulting to 4x the body limit", () =>
    Effect.gen(function* () {
      const read = (env: Record<string, string>) =>
        Effect.provide(LogsConfig, LogsConfig.Default).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      expect(yield* read({})).toMatchObject({
        maxExpandedBytes: 40 * 1024 * 1024,
        maxMetadataBytes: 65536,
        maxMetadataDepth: 20
      })
      expect(yield* read({ THREADLINE_INGEST_MAX_BYTES: "1000" })).toMatchObject({ maxExpandedBytes: 4000 })
      expect(
        yield* read({
          THREADLINE_INGEST_MAX_EXPANDED_BYTES: "5000",
          THREADLINE_LOG_METADATA_MAX_BYTES: "100",
          THREADLINE_LOG_METADATA_MAX_DEPTH: "3"
        })
      ).toMatchObject({ maxExpandedBytes: 5000, maxMetadataBytes: 100, maxMetadataDepth: 3 })
    })
  )
})

describe("Body", () => {
  it.effect("content types", () =>
    Effect.gen(function* () {
      expect(yield* formatOf("application/json; charset=utf-8", ["json"])).toBe("json")
      expect(yield* formatOf("application/x-protobuf", ["json", "protobuf"])).toBe("protobuf")
      expect((yield* Effect.flip(formatOf("application/x-protobuf", ["json"])))._tag).toBe("UnsupportedMediaType")
      expect((yield* Effect.flip(formatOf("text/plain", ["json"])))._tag).toBe("UnsupportedMediaType")
      expect((yield* Effect.flip(formatOf(undefined, ["json"])))._tag).toBe("UnsupportedMediaType")
    })
  )

  it.effect("gzip output is bounded, so a compressed bomb is a 413", () =>
    Effect.gen(function* () {
      const bomb = gzipSync(Buffer.alloc(5 * 1024 * 1024, 0x20))
      expect(bomb.length).toBeLessThan(64 * 1024)
      const err = yield* Effect.flip(decompress(bomb, "gzip", 1024 * 1024))
      expect(err._tag).toBe("PayloadTooLarge")
      const ok = yield* decompress(bomb, "gzip", 6 * 1024 * 1024)
      expect(ok.length).toBe(5 * 1024 * 1024)
      expect((yield* Effect.flip(decompress(new Uint8Array([1, 2, 3]), "gzip", 1024)))._tag).toBe("InvalidBody")
      expect((yield* Effect.flip(decompress(new Uint8Array([1]), "br", 1024)))._tag).toBe("UnsupportedMediaType")
    })
  )
})
