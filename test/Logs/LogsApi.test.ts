import { HttpApi, OpenApi } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import { LogsIngestApi, LogsSearchApi } from "../../src/Logs/LogsApi.js"
import { bucketSeconds, fillBuckets } from "../../src/Logs/Stats.js"
import { decodeCursor, encodeCursor } from "../../src/Logs/Cursor.js"
import { escapeLike } from "../../src/Logs/Filters.js"
import { logIdKey, makeLogIds } from "../../src/Logs/LogId.js"

const ids = makeLogIds(logIdKey(Option.none()))

class Api extends HttpApi.make("logs").add(LogsIngestApi).add(LogsSearchApi) {}

describe("logs contract", () => {
  it("describes every endpoint of API.md, OTLP with both content types", () => {
    const spec = OpenApi.fromApi(Api)
    expect(Object.keys(spec.paths).sort()).toEqual(
      [
        "/api/v1/ingest",
        "/api/v1/ingest/single",
        "/api/v1/logs",
        "/api/v1/logs/aggregated",
        "/api/v1/logs/context",
        "/api/v1/logs/services",
        "/api/v1/logs/stats",
        "/api/v1/logs/{id}",
        "/api/v1/logs/trace/{traceId}",
        "/v1/otlp/logs"
      ].sort()
    )
    expect(Object.keys(spec.paths["/v1/otlp/logs"]?.post?.requestBody?.content ?? {}).sort()).toEqual([
      "application/json",
      "application/x-protobuf"
    ])
    const params = spec.paths["/api/v1/logs"]?.get?.parameters.map((p) => p.name) ?? []
    expect(params).toEqual(expect.arrayContaining(["projectId", "from", "to", "level", "service", "traceId", "q"]))
    expect(params).toEqual(expect.arrayContaining(["searchMode", "limit", "cursor", "offset"]))
    const ingestStatuses = Object.keys(spec.paths["/api/v1/ingest"]?.post?.responses ?? {})
    expect(ingestStatuses).toEqual(expect.arrayContaining(["200", "400", "413", "415", "429"]))
  })
})

describe("stats buckets, cursors, LIKE escaping", () => {
  it("picks a width giving at most ~60 buckets and refuses too fine a one", () => {
    const from = new Date("2026-01-01T00:00:00Z")
    expect(bucketSeconds(from, new Date("2026-01-02T00:00:00Z"), undefined)).toEqual(Either.right(1800))
    expect(bucketSeconds(from, new Date("2026-01-01T00:15:00Z"), undefined)).toEqual(Either.right(60))
    expect(Either.isLeft(bucketSeconds(from, new Date("2026-01-31T00:00:00Z"), 60))).toBe(true)
  })

  it("zero-fills every bucket of the range and adds up the levels", () => {
    const from = new Date("2026-01-01T00:00:00Z")
    const to = new Date("2026-01-01T03:00:00Z")
    const t1 = Date.parse("2026-01-01T01:00:00Z") / 1000
    const buckets = fillBuckets(
      [
        { bucket: t1, level: "error", count: 2 },
        { bucket: t1, level: "info", count: 5 }
      ],
      from,
      to,
      3600
    )
    expect(buckets.map((b) => b.time)).toEqual([
      "2026-01-01T00:00:00.000Z",
      "2026-01-01T01:00:00.000Z",
      "2026-01-01T02:00:00.000Z"
    ])
    expect(buckets[1]).toEqual({
      time: "2026-01-01T01:00:00.000Z",
      total: 7,
      levels: { debug: 0, info: 5, warn: 0, error: 2, critical: 0 }
    })
    expect(buckets[0]?.total).toBe(0)
  })

  it("round-trips cursors and refuses forged ones", () => {
    const c = { time: "2026-01-01T00:00:00.123456Z", id: "42" }
    expect(decodeCursor(ids, encodeCursor(ids, c))).toEqual(Either.right(c))
    expect(Either.isLeft(decodeCursor(ids, "not-a-cursor"))).toBe(true)
    const forged = Buffer.from(JSON.stringify({ t: "2026-01-01'; DROP TABLE logs", i: "1" })).toString("base64url")
    expect(Either.isLeft(decodeCursor(ids, forged))).toBe(true)
  })

  it("escapes LIKE metacharacters", () => {
    expect(escapeLike("100%_a\\b")).toBe("100\\%\\_a\\\\b")
  })
})
