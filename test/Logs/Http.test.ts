/**
 * Ingestion over real HTTP, served by the application itself (test/Logs/AppServer.ts: ApiLive through serveWith,
 * real authentication with keys made through the API, RLS on): partial acceptance, bodies refused whole, unicode
 * and 64 KiB messages, nested metadata, and that exactly the accepted entries are stored.
 */
import { gzipSync } from "node:zlib"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { logsApp, post, search, searchAll, Tenants } from "./AppServer.js"

layer(logsApp("logs-http"), { timeout: 120_000 })("logs ingestion over HTTP", (it) => {
  it.effect("partial acceptance, both body forms and /single", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const res = yield* post(
        "/api/v1/ingest",
        a.fullKey,
        JSON.stringify({
          logs: [
            { service: "http-mixed", level: "info", message: "ok one" },
            { service: "http-mixed", level: "loud", message: "bad level" },
            { service: "http-mixed", level: "warn", message: "ok two", metadata: { a: { b: [1, { c: "d" }] } } }
          ]
        })
      )
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({ received: 2, rejected: [{ index: 1 }] })
      const bare = yield* post(
        "/api/v1/ingest",
        a.fullKey,
        JSON.stringify([{ service: "http-mixed", level: "debug", message: "bare" }])
      )
      expect(bare.status).toBe(200)
      // a write-only key ingests
      const single = yield* post(
        "/api/v1/ingest/single",
        a.writeKey,
        JSON.stringify({ service: "http-mixed", level: "error", message: "single" })
      )
      expect(single.status).toBe(200)
      const found = yield* search("/api/v1/logs", "service=http-mixed", { key: a.fullKey })
      expect(found.body.logs.map((l) => l.message).sort()).toEqual(["bare", "ok one", "ok two", "single"])
      expect(found.body.logs.find((l) => l.message === "ok two")?.metadata).toEqual({ a: { b: [1, { c: "d" }] } })
      expect(found.body.logs.every((l) => l.project_id === a.projectId)).toBe(true)
    })
  )

  it.effect("bodies refused whole: not JSON, wrong content type, too large, too many entries", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const url = "/api/v1/ingest"
      const key = a.fullKey
      const notJson = yield* post(url, key, "{not json")
      expect(notJson.status).toBe(400)
      // the error shape of every refusal (API.md)
      expect(notJson.json).toMatchObject({ error: true, code: 400 })
      expect((yield* post(url, key, JSON.stringify({ nope: 1 }))).status).toBe(400)
      const wrongType = yield* post(url, key, "x", { "content-type": "text/plain" })
      expect(wrongType.status).toBe(415)
      expect(wrongType.json).toMatchObject({ error: true, code: 415 })
      expect((yield* post(url, key, "[]", { "content-type": "application/x-protobuf" })).status).toBe(415)
      const huge = JSON.stringify([{ service: "s", level: "info", message: "x".repeat(11 * 1024 * 1024) }])
      expect((yield* post(url, key, huge)).status).toBe(413)
      const bomb = gzipSync(
        Buffer.from(JSON.stringify([{ service: "s", level: "info", message: " ".repeat(11 * 1024 * 1024) }]))
      )
      expect((yield* post(url, key, bomb, { "content-encoding": "gzip" })).status).toBe(413)
      const many = JSON.stringify(Array.from({ length: 10_001 }, () => ({ service: "s", level: "info", message: "m" })))
      expect((yield* post(url, key, many)).status).toBe(413)
      const found = yield* search("/api/v1/logs", "service=s", { key })
      expect(found.status).toBe(200)
      expect(found.body.logs).toHaveLength(0)
      expect((yield* post(url, "tl_wrong", "[]")).status).toBe(401)
      expect((yield* post(url, `tl_${"x".repeat(43)}`, "[]")).status).toBe(401)
    })
  )

  it.effect("unicode and 64 KiB messages are stored byte for byte; one byte more is rejected alone", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const limit = "ü".repeat(32 * 1024) // 65,536 UTF-8 bytes
      const emoji = "🚀".repeat(16 * 1024) // 65,536 UTF-8 bytes in surrogate pairs
      const mixed = "日本語 émoji 🚀 ünïcödé ‮rtl‬ \t tab"
      const metadata = { user: { id: 7, tags: ["x", "ÿ"], deep: { deeper: { deepest: [{ n: null }] } } }, ключ: "值" }
      const res = yield* post(
        "/api/v1/ingest",
        a.fullKey,
        JSON.stringify([
          { service: "unicode", level: "info", message: limit },
          { service: "unicode", level: "info", message: `${limit}x` },
          { service: "unicode", level: "info", message: emoji },
          { service: "unicode", level: "warn", message: mixed, metadata },
          { service: "unicode", level: "info", message: "nul \u0000 inside" }
        ])
      )
      expect(res.status).toBe(200)
      expect(res.json.received).toBe(3)
      expect((res.json.rejected as ReadonlyArray<{ index: number }>).map((r) => r.index)).toEqual([1, 4])
      const found = yield* searchAll("service=unicode", a.fullKey)
      expect(found.map((l) => l.message).sort()).toEqual([limit, emoji, mixed].sort())
      expect(found.find((l) => l.message === mixed)?.metadata).toEqual(metadata)
      const fullText = yield* search("/api/v1/logs", `service=unicode&q=${encodeURIComponent("ünïcödé")}`, {
        key: a.fullKey
      })
      expect(fullText.body.logs.map((l) => l.message)).toEqual([mixed])
    })
  )

  it.effect("nothing accepted is lost and nothing rejected is stored, across concurrent requests", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const invalid: ReadonlyArray<(i: number) => Record<string, unknown>> = [
        (i) => ({ service: "ledger", level: "fatal", message: `bad-${i}` }),
        (i) => ({ service: "", level: "info", message: `bad-${i}` }),
        (i) => ({ service: "x".repeat(101), level: "info", message: `bad-${i}` }),
        () => ({ service: "ledger", level: "info", message: "" }),
        (i) => ({ service: "ledger", level: "info", message: `bad-${i}`, time: "2026-01-01 10:00" }),
        (i) => ({ service: "ledger", level: "info", message: `bad-${i}`, metadata: [1, 2] }),
        (i) => ({ service: "ledger", level: "info", message: `bad-${i}`, span_id: "xyz" }),
        (i) => ({ service: "ledger", level: "info", message: `bad-${i}`, trace_id: "has space" })
      ]
      const requests = 6
      const perRequest = 400
      const batches = Array.from({ length: requests }, (_, r) =>
        Array.from({ length: perRequest }, (_, k) => {
          const i = r * perRequest + k
          const bad = invalid[i % 13 === 0 ? (i / 13) % invalid.length : -1]
          return bad !== undefined
            ? bad(i)
            : { service: "ledger", level: "info", message: `good-${i}`, metadata: { i } }
        })
      )
      const replies = yield* Effect.forEach(
        batches,
        (batch) => post("/api/v1/ingest", a.writeKey, JSON.stringify(batch)),
        {
          concurrency: "unbounded"
        }
      )
      const expectedGood: Array<string> = []
      replies.forEach((res, r) => {
        expect(res.status).toBe(200)
        const batch = batches[r] ?? []
        const rejected = (res.json.rejected as ReadonlyArray<{ index: number; reason: string }> | undefined) ?? []
        const badIndexes = batch.flatMap((e, k) => (String(e.message).startsWith("good-") ? [] : [k]))
        expect(rejected.map((x) => x.index)).toEqual(badIndexes)
        expect(rejected.every((x) => x.reason.length > 0)).toBe(true)
        expect(res.json.received).toBe(perRequest - badIndexes.length)
        for (const e of batch) if (String(e.message).startsWith("good-")) expectedGood.push(String(e.message))
      })
      // every entry of the project, whatever its service: rejected ones had bad services too
      const all = yield* searchAll("", a.fullKey, 500)
      expect(all.every((l) => l.message.length > 0 && l.service.length <= 100)).toBe(true)
      const stored = all.filter((l) => /^(good|bad)-\d+$/.test(l.message))
      expect(stored.map((l) => l.message).sort()).toEqual(expectedGood.sort())
      expect(stored.every((l) => l.service === "ledger")).toBe(true)
      expect(stored.every((l) => (l.metadata as { i: number }).i === Number(l.message.slice(5)))).toBe(true)
    })
  )
})
