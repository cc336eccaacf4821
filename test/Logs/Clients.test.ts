/**
 * Real clients against the application's server (test/Logs/AppServer.ts): the LogTide Node SDK from npm and the
 * OpenTelemetry JS logs SDK with its OTLP/HTTP exporters (JSON, protobuf, gzip), with keys made through the API.
 */
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
import { baseUrl, logsApp, search, Tenants } from "./AppServer.js"

layer(logsApp("logs-clients"), { timeout: 120_000 })("real clients", (it) => {
  it.effect("the LogTide Node SDK from npm sends logs that are then found", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const { a } = yield* Tenants
      const client = new LogTideClient({ apiUrl: base, apiKey: a.fullKey, batchSize: 100, flushInterval: 60_000 })
      client.info("logtide-sdk", "hello from the LogTide SDK", { orderId: 42 })
      client.error("logtide-sdk", "it failed", new Error("boom"))
      yield* Effect.promise(() => client.close())
      const found = yield* search("/api/v1/logs", "service=logtide-sdk", { key: a.fullKey })
      expect(found.status).toBe(200)
      expect(found.body.logs.map((l) => [l.level, l.message]).sort()).toEqual([
        ["error", "it failed"],
        ["info", "hello from the LogTide SDK"]
      ])
      expect(found.body.logs.find((l) => l.level === "info")?.metadata).toMatchObject({ orderId: 42 })
      const viaSdk = yield* Effect.promise(() => client.query({ service: "logtide-sdk", limit: 10 }))
      expect((viaSdk as unknown as SearchReply).logs).toHaveLength(2)
      const traceId = found.body.logs[0]?.trace_id
      if (traceId !== null && traceId !== undefined) {
        const byTrace = (yield* Effect.promise(() => client.getByTraceId(traceId))) as ReadonlyArray<unknown>
        expect(byTrace.length).toBeGreaterThan(0)
      }
    })
  )

  it.effect("the LogTide SDK with a write-only key sends, and its search is refused", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const { a } = yield* Tenants
      const client = new LogTideClient({ apiUrl: base, apiKey: a.writeKey, batchSize: 100, flushInterval: 60_000 })
      client.warn("logtide-write", "from a write key")
      yield* Effect.promise(() => client.close())
      const refused = yield* Effect.promise(() =>
        client.query({ service: "logtide-write", limit: 10 }).then(
          () => "answered",
          (e: unknown) => String(e)
        )
      )
      expect(refused).not.toBe("answered")
      const found = yield* search("/api/v1/logs", "service=logtide-write", { key: a.fullKey })
      expect(found.body.logs.map((l) => l.message)).toEqual(["from a write key"])
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
        const { a } = yield* Tenants
        const service = `otel-${name.toLowerCase()}`
        const exporter = new Exporter({
          url: `${base}/v1/otlp/logs`,
          // a full key for one exporter, a write-only key (what a sender should hold) for the others
          headers: { "x-api-key": name === "JSON" ? a.fullKey : a.writeKey },
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
        const found = yield* search("/api/v1/logs", `service=${service}`, { key: a.fullKey })
        expect(found.body.logs).toHaveLength(2)
        const warn = found.body.logs.find((l) => l.level === "warn")
        expect(warn).toMatchObject({ message: "card declined", trace_id: traceId, span_id: "00f067aa0ba902b7" })
        expect(warn?.metadata).toMatchObject({
          "card.brand": "visa",
          attempt: 2,
          resource: { "service.name": service }
        })
        expect(found.body.logs.find((l) => l.level === "info")).toMatchObject({
          message: "order placed",
          trace_id: null
        })
        const byTrace = yield* search("/api/v1/logs", `traceId=${traceId}`, { key: a.fullKey })
        expect(byTrace.body.logs.map((l) => l.message)).toEqual(["card declined"])
        const viaTraceRoute = yield* search(`/api/v1/logs/trace/${traceId}`, "", { key: a.fullKey })
        expect(viaTraceRoute.body.logs.map((l) => l.message)).toEqual(["card declined"])
      })
    )
  }
})
