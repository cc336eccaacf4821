/**
 * The logs endpoints over real HTTP, with real clients: the LogTide Node SDK from npm and the OpenTelemetry JS logs
 * SDK with its OTLP/HTTP exporters (JSON, protobuf, gzip), served by test/Logs/TestServer.ts on a migrated database
 * (row-level security on, keys looked up in api_keys).
 */
import { gzipSync } from "node:zlib"
import { HttpServer } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { LogTideClient } from "@logtide/sdk-node"
import * as otelApi from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { OTLPLogExporter as OtlpHttpExporter } from "@opentelemetry/exporter-logs-otlp-http"
import { OTLPLogExporter as OtlpProtoExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs"
import { Effect } from "effect"
import type { SearchReply } from "../../src/Logs/QueryTypes.js"
import { seededDatabase } from "./Fixtures.js"
import { testServerLayer } from "./TestServer.js"

const ServerLive = testServerLayer(seededDatabase("logs-http"), 0)

const baseUrl = Effect.map(HttpServer.HttpServer, (s) =>
  s.address._tag === "TcpAddress" ? `http://127.0.0.1:${s.address.port}` : ""
)
const post = (url: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(url, {
      method: "POST",
      body,
      headers: { "x-api-key": "tl_key_a", "content-type": "application/json", ...headers }
    })
  )
const search = (base: string, query: string, key = "tl_key_a") =>
  Effect.promise(async () => {
    const res = await fetch(`${base}/api/v1/logs?${query}`, { headers: { "x-api-key": key } })
    return { status: res.status, body: (await res.json()) as SearchReply }
  })

layer(ServerLive, { timeout: 60_000 })("logs over HTTP", (it) => {
  it.effect("partial acceptance, both body forms and /single", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const res = yield* post(
        `${base}/api/v1/ingest`,
        JSON.stringify({
          logs: [
            { service: "http-mixed", level: "info", message: "ok one" },
            { service: "http-mixed", level: "loud", message: "bad level" },
            { service: "http-mixed", level: "warn", message: "ok two", metadata: { a: { b: [1, { c: "d" }] } } }
          ]
        })
      )
      expect(res.status).toBe(200)
      const reply = (yield* Effect.promise(() => res.json())) as Record<string, unknown>
      expect(reply).toMatchObject({ received: 2, rejected: [{ index: 1 }] })
      const bare = yield* post(
        `${base}/api/v1/ingest`,
        JSON.stringify([{ service: "http-mixed", level: "debug", message: "bare" }])
      )
      expect(bare.status).toBe(200)
      const single = yield* post(
        `${base}/api/v1/ingest/single`,
        JSON.stringify({ service: "http-mixed", level: "error", message: "single" })
      )
      expect(single.status).toBe(200)
      const found = yield* search(base, "service=http-mixed")
      expect(found.body.logs.map((l) => l.message).sort()).toEqual(["bare", "ok one", "ok two", "single"])
      expect(found.body.logs.find((l) => l.message === "ok two")?.metadata).toEqual({ a: { b: [1, { c: "d" }] } })
    })
  )

  it.effect("bodies refused whole: not JSON, wrong content type, too large, too many entries", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const url = `${base}/api/v1/ingest`
      expect((yield* post(url, "{not json")).status).toBe(400)
      expect((yield* post(url, JSON.stringify({ nope: 1 }))).status).toBe(400)
      expect((yield* post(url, "x", { "content-type": "text/plain" })).status).toBe(415)
      const huge = JSON.stringify([{ service: "s", level: "info", message: "x".repeat(11 * 1024 * 1024) }])
      expect((yield* post(url, huge)).status).toBe(413)
      const bomb = gzipSync(
        Buffer.from(JSON.stringify([{ service: "s", level: "info", message: " ".repeat(11 * 1024 * 1024) }]))
      )
      expect((yield* post(url, bomb, { "content-encoding": "gzip" })).status).toBe(413)
      const many = JSON.stringify(Array.from({ length: 10_001 }, () => ({ service: "s", level: "info", message: "m" })))
      expect((yield* post(url, many)).status).toBe(413)
      const found = yield* search(base, "service=s")
      expect(found.body.logs).toHaveLength(0)
      expect((yield* post(url, "[]", { "x-api-key": "tl_wrong" })).status).toBe(401)
    })
  )

  it.effect("the LogTide Node SDK from npm sends logs that are then found", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const client = new LogTideClient({ apiUrl: base, apiKey: "tl_key_a", batchSize: 100, flushInterval: 60_000 })
      client.info("logtide-sdk", "hello from the LogTide SDK", { orderId: 42 })
      client.error("logtide-sdk", "it failed", new Error("boom"))
      yield* Effect.promise(() => client.close())
      const found = yield* search(base, "service=logtide-sdk")
      expect(found.status).toBe(200)
      expect(found.body.logs.map((l) => [l.level, l.message]).sort()).toEqual([
        ["error", "it failed"],
        ["info", "hello from the LogTide SDK"]
      ])
      const viaSdk = yield* Effect.promise(() => client.query({ service: "logtide-sdk", limit: 10 }))
      expect((viaSdk as unknown as SearchReply).logs).toHaveLength(2)
      const traceId = found.body.logs[0]?.trace_id
      if (traceId !== null && traceId !== undefined) {
        const byTrace = (yield* Effect.promise(() => client.getByTraceId(traceId))) as ReadonlyArray<unknown>
        expect(byTrace.length).toBeGreaterThan(0)
      }
    })
  )

  for (const [name, Exporter, compression] of [
    ["JSON", OtlpHttpExporter, undefined],
    ["protobuf", OtlpProtoExporter, undefined],
    ["gzip-protobuf", OtlpProtoExporter, CompressionAlgorithm.GZIP]
  ] as const) {
    it.effect(`the OpenTelemetry logs SDK with the OTLP/HTTP ${name} exporter`, () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const service = `otel-${name.toLowerCase()}`
        const exporter = new Exporter({
          url: `${base}/v1/otlp/logs`,
          headers: { "x-api-key": "tl_key_a" },
          ...(compression === undefined ? {} : { compression })
        })
        const provider = new LoggerProvider({
          resource: resourceFromAttributes({ "service.name": service }),
          processors: [new BatchLogRecordProcessor(exporter)]
        })
        const traceId = { JSON: "4bf92f3577b34da6a3ce929d0e0e4736", protobuf: "0af7651916cd43dd8448eb211c80319c" }[
          name === "JSON" ? "JSON" : "protobuf"
        ].replace(/^0/, name === "gzip-protobuf" ? "1" : "0")
        const ctx = otelApi.trace.setSpanContext(otelApi.context.active(), {
          traceId,
          spanId: "00f067aa0ba902b7",
          traceFlags: 1
        })
        const logger = provider.getLogger("checkout")
        logger.emit({
          severityNumber: SeverityNumber.WARN,
          body: "card declined",
          attributes: { "card.brand": "visa", attempt: 2 },
          context: ctx
        })
        logger.emit({ severityNumber: SeverityNumber.INFO, body: "order placed" })
        yield* Effect.promise(() => provider.shutdown())
        const found = yield* search(base, `service=${service}`)
        expect(found.body.logs).toHaveLength(2)
        const warn = found.body.logs.find((l) => l.level === "warn")
        expect(warn).toMatchObject({ message: "card declined", trace_id: traceId, span_id: "00f067aa0ba902b7" })
        expect(warn?.metadata).toMatchObject({
          "card.brand": "visa",
          attempt: 2,
          resource: { "service.name": service }
        })
        const byTrace = yield* search(base, `traceId=${traceId}`)
        expect(byTrace.body.logs.map((l) => l.message)).toEqual(["card declined"])
      })
    )
  }

  it.effect("project B does not see project A's logs", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const own = yield* search(base, "service=http-mixed", "tl_key_b")
      expect(own.body.logs).toHaveLength(0)
      const other = yield* search(base, "projectId=prj_a", "tl_key_b")
      expect(other.status).toBe(404)
    })
  )
})
