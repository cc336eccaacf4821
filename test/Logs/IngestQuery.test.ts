/**
 * Ingest and search on the migrated schema as the app role: row-level security on, tenant transactions, camelCase
 * result names, and the request comment on the statements Postgres receives.
 */
import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Fiber, Layer } from "effect"
import { Ingest } from "../../src/Logs/Ingest.js"
import { LogsQuery } from "../../src/Logs/Query.js"
import { RequestContext } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner } from "../support/Database.js"
import { keyContext, logsServices, seededDatabase } from "./Fixtures.js"

const A = keyContext("a")
const B = keyContext("b")

const Db = seededDatabase("logs-iq")
const Services = logsServices(Db).pipe(Layer.provideMerge(Db))

const entry = (message: string, extra: Record<string, unknown> = {}) => ({
  service: "api",
  level: "info",
  message,
  ...extra
})

layer(Services, { timeout: 60_000 })("Ingest and Query against Postgres", (it) => {
  it.effect("stores exactly the valid entries of a mixed batch, with their content intact", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest
      const query = yield* LogsQuery
      const big = "ü".repeat(32 * 1024)
      const metadata = { user: { id: 7, tags: ["x", "y"], deep: { deeper: { n: null } } }, unicode: "日本" }
      const items = [
        entry("mixed-1 first"),
        entry("", {}),
        entry("mixed-1 émoji 🚀 ünïcödé", { metadata, level: "error", trace_id: "trace-mixed-1" }),
        { service: "api", message: "no level" },
        entry(big, { service: "big" }),
        entry(big + "x", { service: "big" })
      ]
      const result = yield* ingest.ingest(items)
      expect(result.received).toBe(3)
      expect(result.rejected.map((r) => r.index)).toEqual([1, 3, 5])
      const found = yield* query.search({ limit: 1000 })
      expect(found.logs.map((l) => l.message).sort()).toEqual([big, "mixed-1 first", "mixed-1 émoji 🚀 ünïcödé"].sort())
      const rich = found.logs.find((l) => l.level === "error")
      expect(rich?.metadata).toEqual(metadata)
      expect(rich?.trace_id).toBe("trace-mixed-1")
      expect(rich?.project_id).toBe("prj_a")
      const sql = yield* SqlClient.SqlClient
      const count = sql<{ n: number }>`SELECT count(*)::int AS n FROM logs WHERE project_id = 'prj_a'`
      expect((yield* Tenant.transaction(count))[0]?.n).toBe(3)
      // row-level security is on: outside a tenant transaction, or as another tenant, the rows are invisible
      expect((yield* count)[0]?.n).toBe(0)
      expect((yield* Tenant.transaction(count).pipe(RequestContext.withContext(B)))[0]?.n).toBe(0)
    }).pipe(RequestContext.withContext(A))
  )

  it.effect("filters: level, service, trace id, full text and substring with LIKE metacharacters", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest
      const query = yield* LogsQuery
      const t = "2026-01-01T00:00:00.000Z"
      yield* ingest.ingest([
        entry("payment declined for card", { service: "pay", level: "error", time: t, trace_id: "tr-1" }),
        entry("payment accepted", { service: "pay", level: "info", time: t, trace_id: "tr-1" }),
        entry("discount 100% applied", { service: "cart", level: "warn", time: t }),
        entry("discount 1000 applied", { service: "cart", level: "warn", time: t }),
        entry("user_name changed", { service: "users", level: "debug", time: t }),
        entry("username changed", { service: "users", level: "debug", time: t })
      ])
      const range = { from: new Date("2025-12-31T00:00:00Z"), to: new Date("2026-01-02T00:00:00Z") }
      const msgs = (r: { logs: ReadonlyArray<{ message: string }> }) => r.logs.map((l) => l.message).sort()
      expect(msgs(yield* query.search({ ...range, levels: ["error", "warn"] }))).toEqual([
        "discount 100% applied",
        "discount 1000 applied",
        "payment declined for card"
      ])
      expect(msgs(yield* query.search({ ...range, services: ["users"] }))).toHaveLength(2)
      expect(msgs(yield* query.search({ ...range, traceId: "tr-1" }))).toHaveLength(2)
      expect(msgs(yield* query.trace("tr-1", {}))).toHaveLength(2)
      expect(msgs(yield* query.search({ ...range, q: "payment -accepted" }))).toEqual(["payment declined for card"])
      expect(msgs(yield* query.search({ ...range, q: "100%", searchMode: "substring" }))).toEqual([
        "discount 100% applied"
      ])
      expect(msgs(yield* query.search({ ...range, q: "user_name", searchMode: "substring" }))).toEqual([
        "user_name changed"
      ])
      const stats = yield* query.stats({ ...range, interval: 3600 })
      const bucket = stats.buckets.find((b) => b.time === t)
      expect(bucket?.levels).toEqual({ debug: 2, info: 1, warn: 2, error: 1, critical: 0 })
      expect(stats.buckets).toHaveLength(48)
      const offsetPage = yield* query.search({ ...range, limit: 2, offset: 2 })
      expect(offsetPage.logs).toHaveLength(2)
      expect(offsetPage.offset).toBe(2)
      expect(offsetPage.total).toBeGreaterThanOrEqual(4)
    }).pipe(RequestContext.withContext(A))
  )

  it.effect("an API key sees only its own project", () =>
    Effect.gen(function* () {
      const query = yield* LogsQuery
      const other = yield* Effect.flip(query.search({ projectId: "prj_a" }).pipe(RequestContext.withContext(B)))
      expect(other._tag).toBe("ProjectNotFound")
      const own = yield* query.search({}).pipe(RequestContext.withContext(B))
      expect(own.logs).toHaveLength(0)
    })
  )

  it.effect("keyset pages never repeat or skip an entry while ingestion goes on", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest
      const query = yield* LogsQuery
      // Many rows share a millisecond, so the page boundary often falls inside a tie on time.
      const base = Date.UTC(2025, 5, 1)
      const initial = Array.from({ length: 600 }, (_, i) =>
        entry(`page-initial-${i}`, { service: "pager", time: new Date(base + Math.floor(i / 7)).toISOString() })
      )
      yield* ingest.ingest(initial)
      const writer = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 30 }, (_, k) => k),
          (k) =>
            ingest.ingest(
              Array.from({ length: 20 }, (_, i) =>
                entry(`page-concurrent-${k}-${i}`, {
                  service: "pager",
                  // Newer rows, and rows inside the range being paged, tied with existing times.
                  time: new Date(i % 2 === 0 ? Date.now() : base + ((k * 20 + i) % 85)).toISOString()
                })
              )
            ),
          { discard: true }
        )
      )
      const seen: Array<string> = []
      let cursor: string | undefined
      for (;;) {
        const page = yield* query.search({ services: ["pager"], limit: 23, cursor })
        seen.push(...page.logs.map((l) => l.message))
        if (page.nextCursor === null) break
        cursor = page.nextCursor
      }
      yield* Fiber.join(writer)
      const dups = seen.filter((m, i) => seen.indexOf(m) !== i)
      expect(dups).toEqual([])
      const initialSeen = seen.filter((m) => m.startsWith("page-initial-"))
      expect(initialSeen).toHaveLength(600)
    }).pipe(RequestContext.withContext(A))
  )
  it.effect("the INSERT Postgres receives carries the request comment (organization, project, request id)", () =>
    Effect.gen(function* () {
      // a statement trigger (created as the owner) records current_query() of each INSERT into logs
      yield* asOwner((c) =>
        c.query(`
          CREATE TABLE seen_inserts (q text NOT NULL);
          CREATE FUNCTION record_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS
            $$ BEGIN INSERT INTO seen_inserts VALUES (current_query()); RETURN NULL; END $$;
          CREATE TRIGGER logs_seen AFTER INSERT ON logs FOR EACH STATEMENT EXECUTE FUNCTION record_insert();
        `)
      )
      const ingest = yield* Ingest
      const ctx = keyContext("b")
      yield* ingest.ingest([entry("commented")]).pipe(RequestContext.withContext(ctx))
      const seen = yield* asOwner((c) => c.query<{ q: string }>("SELECT q FROM seen_inserts"))
      yield* asOwner((c) => c.query("DROP TRIGGER logs_seen ON logs; DROP TABLE seen_inserts"))
      expect(seen.rows).toHaveLength(1)
      const q = seen.rows[0]?.q ?? ""
      expect(q).toMatch(/^INSERT INTO logs /)
      expect(q).toContain(`organization_id='org_b'`)
      expect(q).toContain(`project_id='prj_b'`)
      expect(q).toContain(`request_id='${ctx.requestId}'`)
    })
  )
})
