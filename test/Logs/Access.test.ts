/**
 * Who may read logs, over real HTTP through the application's server (test/Logs/AppServer.ts): a write-only key
 * cannot search (403), a key of project A cannot reach project B, a session must belong to the project's
 * organization; and keyset pages read while other clients ingest never repeat or skip an entry.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { logsApp, post, search, Tenants } from "./AppServer.js"

const at = "2026-03-01T12:00:00.000Z"
const range = "from=2026-03-01T00:00:00.000Z&to=2026-03-02T00:00:00.000Z"
const PATHS = ["/api/v1/logs", "/api/v1/logs/stats", "/api/v1/logs/trace/tr-acc"] as const

layer(logsApp("logs-access"), { timeout: 120_000 })("logs access over HTTP", (it) => {
  it.effect("a write-only key ingests but cannot read (403 on search, stats and trace)", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const res = yield* post(
        "/api/v1/ingest",
        a.writeKey,
        JSON.stringify([{ service: "acc", level: "warn", message: "a secret", time: at, trace_id: "tr-acc" }])
      )
      expect(res.status).toBe(200)
      for (const path of PATHS) {
        const refused = yield* search(path, range, { key: a.writeKey })
        expect(refused.status).toBe(403)
        expect(JSON.stringify(refused.json)).not.toContain("a secret")
        // the same project's full key reads
        expect((yield* search(path, range, { key: a.fullKey })).status).toBe(200)
      }
      const found = yield* search("/api/v1/logs", `${range}&service=acc`, { key: a.fullKey })
      expect(found.body.logs.map((l) => l.message)).toEqual(["a secret"])
    })
  )

  it.effect("project B does not see project A's logs", () =>
    Effect.gen(function* () {
      const { a, b } = yield* Tenants
      yield* post("/api/v1/ingest", a.fullKey, JSON.stringify([{ service: "http-mixed", level: "info", message: "A" }]))
      const own = yield* search("/api/v1/logs", "service=http-mixed", { key: b.fullKey })
      expect(own.status).toBe(200)
      expect(own.body.logs).toHaveLength(0)
      for (const path of PATHS) {
        const other = yield* search(path, `projectId=${a.projectId}&${range}`, { key: b.fullKey })
        expect(other.status).toBe(404)
        expect(JSON.stringify(other.json)).not.toContain("a secret")
      }
      const trace = yield* search("/api/v1/logs/trace/tr-acc", range, { key: b.fullKey })
      expect(trace.body.logs).toHaveLength(0)
    })
  )

  it.effect("a session reads a project of its own organizations only", () =>
    Effect.gen(function* () {
      const { a, b, outsider } = yield* Tenants
      yield* post(
        "/api/v1/ingest",
        a.fullKey,
        JSON.stringify([{ service: "sess", level: "error", message: "for members", time: at, trace_id: "tr-sess" }])
      )
      const query = `projectId=${a.projectId}&${range}&service=sess`
      const member = yield* search("/api/v1/logs", query, { session: a.owner.token })
      expect(member.status).toBe(200)
      expect(member.body.logs.map((l) => l.message)).toEqual(["for members"])
      const stats = yield* search("/api/v1/logs/stats", query, { session: a.owner.token })
      expect(stats.status).toBe(200)
      expect(stats.json.buckets).toEqual(
        expect.arrayContaining([expect.objectContaining({ levels: expect.objectContaining({ error: 1 }) as unknown })])
      )
      const trace = yield* search("/api/v1/logs/trace/tr-sess", `projectId=${a.projectId}&${range}`, {
        session: a.owner.token
      })
      expect(trace.body.logs.map((l) => l.message)).toEqual(["for members"])
      // the owner of another organization, and a user of none: the same 404 as an unknown project
      for (const path of PATHS) {
        for (const session of [b.owner.token, outsider.token]) {
          const refused = yield* search(path, `projectId=${a.projectId}&${range}`, { session })
          expect(refused.status).toBe(404)
        }
      }
      expect((yield* search("/api/v1/logs", `projectId=prj_nope&${range}`, { session: a.owner.token })).status).toBe(
        404
      )
      // a session must say which project
      expect((yield* search("/api/v1/logs", range, { session: a.owner.token })).status).toBe(400)
      expect((yield* search("/api/v1/logs", range, { session: "not-a-session-token-at-all" })).status).toBe(401)
    })
  )

  it.effect("pages read while other clients ingest never repeat or skip an entry", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      // Many rows share a millisecond, so the page boundary often falls inside a tie on time.
      const base = Date.UTC(2025, 5, 1)
      const initial = Array.from({ length: 600 }, (_, i) => ({
        service: "pager",
        level: "info",
        message: `page-initial-${i}`,
        time: new Date(base + Math.floor(i / 7)).toISOString()
      }))
      expect((yield* post("/api/v1/ingest", a.writeKey, JSON.stringify(initial))).json.received).toBe(600)
      const writer = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 30 }, (_, k) => k),
          (k) =>
            post(
              "/api/v1/ingest",
              a.writeKey,
              JSON.stringify(
                Array.from({ length: 20 }, (_, i) => ({
                  service: "pager",
                  level: "info",
                  message: `page-concurrent-${k}-${i}`,
                  // Newer rows, and rows inside the range being paged, tied with existing times.
                  time: new Date(i % 2 === 0 ? Date.now() : base + ((k * 20 + i) % 85)).toISOString()
                }))
              )
            ).pipe(Effect.tap((res) => expect(res.status).toBe(200))),
          { concurrency: 2, discard: true }
        )
      )
      const seen: Array<string> = []
      let cursor: string | null = null
      let pages = 0
      let pagesWhileWriting = 0
      do {
        const page: Effect.Effect.Success<ReturnType<typeof search>> = yield* search(
          "/api/v1/logs",
          `service=pager&limit=23${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
          { key: a.fullKey }
        )
        expect(page.status).toBe(200)
        seen.push(...page.body.logs.map((l) => l.message))
        cursor = page.body.nextCursor
        pages++
        if (Option.isNone(yield* Fiber.poll(writer))) pagesWhileWriting++
      } while (cursor !== null)
      yield* Fiber.join(writer)
      expect(pages).toBeGreaterThan(20)
      // the point of the test: pages were read while the writes were going on
      expect(pagesWhileWriting).toBeGreaterThan(0)
      const dups = seen.filter((m, i) => seen.indexOf(m) !== i)
      expect(dups).toEqual([])
      const initialSeen = seen.filter((m) => m.startsWith("page-initial-"))
      expect(initialSeen).toHaveLength(600)
      // newest first: the initial rows come in descending time order
      const order = initialSeen.map((m) => Number(m.slice("page-initial-".length)))
      expect(order.every((n, i) => i === 0 || Math.floor(n / 7) <= Math.floor((order[i - 1] ?? 0) / 7))).toBe(true)
    })
  )
})
