/**
 * The LogTide Node SDK from npm reading back through Threadline: `getAggregatedStats()` (it used to fail: the
 * route did not exist) and `getByTraceId()` return what the same SDK ingested, for its own project only.
 */
import { randomUUID } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { LogTideClient } from "@logtide/sdk-node"
import { Effect } from "effect"
import { baseUrl, logsApp, Tenants } from "./AppServer.js"

const DAY = "2026-03-15"
const clientOf = (apiUrl: string, apiKey: string) =>
  new LogTideClient({ apiUrl, apiKey, batchSize: 100, flushInterval: 60_000, maxRetries: 0 })
const failure = (p: Promise<unknown>) =>
  Effect.promise(() =>
    p.then(
      () => "answered",
      (e: unknown) => String(e)
    )
  )

layer(logsApp("logs-sdk-read"), { timeout: 120_000 })("LogTide SDK reads", (it) => {
  it.effect("getAggregatedStats() and getByTraceId() return what the SDK ingested", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const { a, b } = yield* Tenants
      const traceId = randomUUID()
      const sender = clientOf(base, a.writeKey)
      const entry = (service: string, level: "info" | "error" | "warn", message: string, time: string) =>
        sender.log({ service, level, message, time: `${DAY}T${time}Z`, trace_id: traceId })
      entry("sdk-checkout", "info", "order placed", "10:01:00.000")
      entry("sdk-checkout", "error", "payment refused", "10:02:00.000")
      entry("sdk-checkout", "error", "payment refused", "10:07:00.000")
      entry("sdk-mail", "warn", "mail slow", "11:30:00.000")
      yield* Effect.promise(() => sender.close())
      expect(sender.getMetrics().logsSent).toBe(4)

      const reader = clientOf(base, a.fullKey)
      const stats = yield* Effect.promise(() =>
        reader.getAggregatedStats({
          from: new Date(`${DAY}T10:00:00Z`),
          to: new Date(`${DAY}T12:00:00Z`),
          interval: "1h"
        })
      )
      const zero = { debug: 0, info: 0, warn: 0, error: 0, critical: 0 }
      expect(stats).toEqual({
        timeseries: [
          { bucket: `${DAY}T10:00:00.000Z`, total: 3, by_level: { ...zero, info: 1, error: 2 } },
          { bucket: `${DAY}T11:00:00.000Z`, total: 1, by_level: { ...zero, warn: 1 } }
        ],
        top_services: [
          { service: "sdk-checkout", count: 3 },
          { service: "sdk-mail", count: 1 }
        ],
        top_errors: [{ message: "payment refused", count: 2 }]
      })
      // 5-minute buckets and the service filter, as the SDK sends them
      const fine = yield* Effect.promise(() =>
        reader.getAggregatedStats({
          from: `${DAY}T10:00:00Z`,
          to: `${DAY}T11:00:00Z`,
          interval: "5m",
          service: "sdk-checkout"
        })
      )
      expect(fine.timeseries.map((t) => [t.bucket, t.total])).toEqual([
        [`${DAY}T10:00:00.000Z`, 2],
        [`${DAY}T10:05:00.000Z`, 1]
      ])

      const byTrace = yield* Effect.promise(() => reader.getByTraceId(traceId))
      expect(byTrace.map((l) => [l.service, l.level, l.message, l.time, l.trace_id]).sort()).toEqual(
        [
          ["sdk-checkout", "error", "payment refused", `${DAY}T10:02:00.000000Z`, traceId],
          ["sdk-checkout", "error", "payment refused", `${DAY}T10:07:00.000000Z`, traceId],
          ["sdk-checkout", "info", "order placed", `${DAY}T10:01:00.000000Z`, traceId],
          ["sdk-mail", "warn", "mail slow", `${DAY}T11:30:00.000000Z`, traceId]
        ].sort()
      )

      // another tenant's SDK sees none of it; a write-only key reads nothing
      const other = clientOf(base, b.fullKey)
      expect(yield* Effect.promise(() => other.getByTraceId(traceId))).toEqual([])
      const otherStats = yield* Effect.promise(() =>
        other.getAggregatedStats({ from: `${DAY}T10:00:00Z`, to: `${DAY}T12:00:00Z` })
      )
      expect(otherStats).toEqual({ timeseries: [], top_services: [], top_errors: [] })
      const refused = yield* failure(
        sender.getAggregatedStats({ from: `${DAY}T10:00:00Z`, to: `${DAY}T12:00:00Z`, interval: "1h" })
      )
      expect(refused).toContain("HTTP 403")
      // a range of minutes with too many buckets is the SDK's error, carrying the 400 that names `interval`
      const tooMany = yield* failure(
        reader.getAggregatedStats({ from: "2026-01-01T00:00:00Z", to: "2026-03-01T00:00:00Z", interval: "1m" })
      )
      expect(tooMany).toContain("HTTP 400")
      expect(tooMany).toContain("interval")
      yield* Effect.promise(() => reader.close())
      yield* Effect.promise(() => other.close())
    })
  )
})
