/**
 * The text Postgres receives (current_query(), and pg_stat_activity seen from another session) ends with the
 * sorted, encoded sqlcommenter comment of the context; escaping cannot end the comment early; no context, no
 * comment; and 10,000 requests with 10,000 different comments leave no prepared statement behind.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import pg from "pg"
import { type OrganizationId, RequestContext, type RequestId, type UserId } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner, TestDatabase, TestDatabaseInfo } from "../support/Database.js"

const ctxWith = (organizationId: string, requestId: string, traceparent?: string) => ({
  ...RequestContext.make({
    origin: "http",
    actor: { _tag: "user", userId: "usr_c" as UserId },
    organizationId: organizationId as OrganizationId,
    requestId: requestId as RequestId
  }),
  ...(traceparent === undefined ? {} : { traceparent })
})

/** Parses the trailing comment back into key/value pairs (the inverse of the sqlcommenter encoding). */
const parseComment = (text: string): Array<[string, string]> => {
  const start = text.lastIndexOf(" /*")
  const body = text.slice(start + 3, -2)
  return [...body.matchAll(/([a-z_]+)='((?:[^'\\]|\\')*)'/g)].map((m) => [
    m[1] ?? "",
    decodeURIComponent((m[2] ?? "").replace(/\\'/g, "'"))
  ])
}

layer(TestDatabase.layer("comment"), { timeout: 120_000 })("SQL comments", (it) => {
  it.effect("the statement ends with the sorted, encoded comment of the context", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const ctx = ctxWith("org_c1", "API-1-abc", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
      const rows = yield* sql<{ q: string; p: number }>`SELECT current_query() AS q, ${41}::int + 1 AS p`.pipe(
        RequestContext.withContext(ctx)
      )
      expect(rows[0]?.p).toBe(42)
      expect(rows[0]?.q).toBe(
        "SELECT current_query() AS q, $1::int + 1 AS p /*organization_id='org_c1',request_id='API-1-abc'," +
          "traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/"
      )
      const keys = parseComment(rows[0]?.q ?? "").map(([k]) => k)
      expect(keys).toEqual([...keys].sort())
    })
  )

  it.effect("project id joins the comment in key order, and statements inside a tenant transaction carry it", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const ctx = RequestContext.make({
        origin: "http",
        actor: { _tag: "apiKey", apiKeyId: "key_c" as never },
        organizationId: "org_c2" as OrganizationId,
        projectId: "prj_c2" as never
      })
      const rows = yield* Tenant.transaction(sql<{ q: string }>`SELECT current_query() AS q`).pipe(
        RequestContext.withContext(ctx)
      )
      expect(parseComment(rows[0]?.q ?? "")).toEqual([
        ["organization_id", "org_c2"],
        ["project_id", "prj_c2"],
        ["request_id", ctx.requestId],
        ["traceparent", ctx.traceparent]
      ])
    })
  )

  it.effect("another session sees the commented text in pg_stat_activity while the statement runs", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const ctx = ctxWith("org_c3", "API-activity-1")
      const running = yield* Effect.fork(sql`SELECT pg_sleep(0.8)`.pipe(RequestContext.withContext(ctx)))
      // real time: it.effect runs on the test clock
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
      const seen = yield* asOwner((c) =>
        c.query<{ query: string }>("SELECT query FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(0.8)%'")
      )
      yield* Fiber.join(running)
      expect(seen.rows.map((r) => r.query)).toEqual([
        "SELECT pg_sleep(0.8) /*organization_id='org_c3',request_id='API-activity-1',traceparent='" +
          `${ctx.traceparent}'*/`
      ])
    })
  )

  const nasty = [
    ["quote", "org_o'brien"],
    ["comment close", "org_a*/b"],
    ["comment open (Postgres nests block comments)", "org_x/*y"],
    ["line comment", "org_--drop"],
    ["injection attempt", "'*/; DROP TABLE users; --"],
    ["newline and backslash", "org_a\nb\\c"],
    ["non-ASCII", "org_ü€"]
  ] as const
  for (const [name, value] of nasty) {
    it.effect(`escaping: ${name}`, () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ q: string; p: string }>`SELECT current_query() AS q, ${"x*/y'--"}::text AS p`.pipe(
          RequestContext.withContext(ctxWith(value, `req-${value}`))
        )
        const q = rows[0]?.q ?? ""
        expect(rows[0]?.p).toBe("x*/y'--")
        const comment = q.slice(q.lastIndexOf(" /*") + 1)
        expect(comment.startsWith("/*") && comment.endsWith("*/")).toBe(true)
        expect(comment.slice(2, -2)).not.toMatch(/\*\/|\/\*|\n/)
        expect(parseComment(q).slice(0, 2)).toEqual([
          ["organization_id", value],
          ["request_id", `req-${value}`]
        ])
        const users = yield* asOwner((c) => c.query("SELECT to_regclass('users') IS NOT NULL AS ok"))
        expect(users.rows[0]).toEqual({ ok: true })
      })
    )
  }

  it.effect("no comment outside a unit of work; a statement already ending with a comment is left alone", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const bare = yield* sql<{ q: string }>`SELECT current_query() AS q`
      expect(bare[0]?.q).toBe("SELECT current_query() AS q")
      const own = yield* sql<{ q: string }>`SELECT current_query() AS q /* mine */`.pipe(
        RequestContext.withContext(ctxWith("org_c4", "API-own"))
      )
      expect(own[0]?.q).toBe("SELECT current_query() AS q /* mine */")
    })
  )

  it.effect("10,000 requests with distinct comments leave no prepared statements on any pooled connection", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.forEach(
        Array.from({ length: 10_000 }, (_, i) => i),
        (i) =>
          sql`SELECT ${i}::int AS i, ${"x"}::text AS t`.pipe(RequestContext.withContext(ctxWith("org_c5", `API-${i}`))),
        { concurrency: 5, discard: true }
      )
      // hold all five pooled connections at once, so each is inspected
      const perConnection = yield* Effect.scoped(
        Effect.forEach(
          [1, 2, 3, 4, 5],
          () =>
            Effect.flatMap(sql.reserve, (conn) =>
              conn.execute(
                "SELECT pg_backend_pid() AS pid, (SELECT count(*)::int FROM pg_prepared_statements) AS n",
                [],
                undefined
              )
            ),
          { concurrency: 5 }
        )
      )
      const rows = perConnection.map((r) => r[0] as { pid: number; n: number })
      expect(new Set(rows.map((r) => r.pid)).size).toBe(5)
      expect(rows.map((r) => r.n)).toEqual([0, 0, 0, 0, 0])
    })
  )

  it.effect("control: a driver that names statements by their text would keep one per request id", () =>
    Effect.gen(function* () {
      const info = yield* TestDatabaseInfo
      const count = yield* Effect.promise(async () => {
        const c = new pg.Client({ connectionString: info.ownerUrl })
        await c.connect()
        try {
          for (let i = 0; i < 200; i++) {
            const text = `SELECT $1::int AS i /*request_id='API-${i}'*/`
            await c.query({ name: `s${i}`, text, values: [i] })
          }
          const r = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_statements")
          return r.rows[0]?.n
        } finally {
          await c.end()
        }
      })
      expect(count).toBe(200)
    })
  )
})
