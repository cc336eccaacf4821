/**
 * Transaction control carries the comment too (src/Sql/Transaction.ts): BEGIN, SAVEPOINT, COMMIT and ROLLBACK as
 * Postgres received them — the last statement of this file's backends in pg_stat_activity, read from an owner
 * session — end with the comment of the unit of work that opened the transaction; without a unit of work they are
 * sent bare. And the transaction semantics are the library's: commit, rollback, savepoint rollback that keeps the
 * outer transaction, statements inside on the transaction's connection.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { type OrganizationId, RequestContext, type RequestId, type UserId } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner, TestDatabase } from "../support/Database.js"

const APP = "test-txcomment"

const ctxWith = (requestId: string) =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "user", userId: "usr_tx" as UserId },
    organizationId: "org_tx" as OrganizationId,
    requestId: requestId as RequestId
  })

/** The last statement and state of every backend of this file's pool. */
const backends = asOwner((c) =>
  c.query<{ query: string; state: string }>(
    "SELECT query, state FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
    [APP]
  )
).pipe(Effect.map((r) => r.rows))

const inTransaction = Effect.map(backends, (rows) => rows.filter((r) => r.state === "idle in transaction"))

layer(TestDatabase.layer("txcomment"), { timeout: 120_000 })("transaction control comments", (it) => {
  it.effect("BEGIN and COMMIT end with the comment of the context that opened the transaction", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const ctx = ctxWith("API-tx-begin")
      const during = yield* sql.withTransaction(inTransaction).pipe(RequestContext.withContext(ctx))
      expect(during).toHaveLength(1)
      expect(during[0]?.query).toMatch(/^BEGIN \/\*organization_id='org_tx',request_id='API-tx-begin',traceparent='00-/)
      expect(during[0]?.query.endsWith("*/")).toBe(true)
      const after = yield* backends
      const commits = after.filter((r) => r.query.startsWith("COMMIT"))
      expect(commits.some((r) => r.query.includes("request_id='API-tx-begin'"))).toBe(true)
    })
  )

  it.effect("a nested transaction is a commented SAVEPOINT on the same connection", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const ctx = ctxWith("API-tx-nested")
      const [outerPid, innerPid, during] = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const outer = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
            return yield* sql.withTransaction(
              Effect.gen(function* () {
                const seen = yield* inTransaction
                const inner = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
                return [outer[0]?.pid, inner[0]?.pid, seen] as const
              })
            )
          })
        )
        .pipe(RequestContext.withContext(ctx))
      expect(innerPid).toBe(outerPid)
      expect(during).toHaveLength(1)
      expect(during[0]?.query).toMatch(
        /^SAVEPOINT effect_sql_1 \/\*organization_id='org_tx',request_id='API-tx-nested'/
      )
    })
  )

  it.effect("a failure rolls back with a commented ROLLBACK; a failed savepoint keeps the outer work", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* asOwner((c) =>
        c.query(
          "CREATE TABLE IF NOT EXISTS tx_probe (v text NOT NULL); GRANT SELECT, INSERT ON tx_probe TO threadline_app"
        )
      )
      const ctx = ctxWith("API-tx-rollback")
      const failed = yield* sql
        .withTransaction(Effect.zipRight(sql`INSERT INTO tx_probe VALUES ('lost')`, Effect.fail("boom" as const)))
        .pipe(RequestContext.withContext(ctx), Effect.exit)
      expect(Exit.isFailure(failed)).toBe(true)
      const rollbacks = (yield* backends).filter((r) => r.query.startsWith("ROLLBACK"))
      expect(rollbacks.some((r) => /^ROLLBACK \/\*.*request_id='API-tx-rollback'/.test(r.query))).toBe(true)

      const nested = ctxWith("API-tx-savepoint")
      yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO tx_probe VALUES ('kept')`
            const inner = yield* sql
              .withTransaction(Effect.zipRight(sql`INSERT INTO tx_probe VALUES ('undone')`, Effect.fail("inner")))
              .pipe(Effect.exit)
            expect(Exit.isFailure(inner)).toBe(true)
            const last = yield* inTransaction
            expect(last[0]?.query).toMatch(/^ROLLBACK TO SAVEPOINT effect_sql_1 \/\*.*request_id='API-tx-savepoint'/)
          })
        )
        .pipe(RequestContext.withContext(nested))
      const rows = yield* sql<{ v: string }>`SELECT v FROM tx_probe ORDER BY v`
      expect(rows.map((r) => r.v)).toEqual(["kept"])
    })
  )

  it.effect("Tenant.transaction's BEGIN carries the request id; without a unit of work BEGIN is bare", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const ctx = ctxWith("API-tx-tenant")
      const seen = yield* Tenant.transaction(
        Effect.zipRight(
          sql`SELECT 1`,
          asOwner((c) => c.query<{ n: number }>("SELECT 1 AS n"))
        )
      ).pipe(RequestContext.withContext(ctx))
      expect(seen.rows[0]?.n).toBe(1)
      const commits = (yield* backends).filter((r) => r.query.startsWith("COMMIT"))
      expect(commits.some((r) => r.query.includes("request_id='API-tx-tenant'"))).toBe(true)

      const bare = yield* sql.withTransaction(inTransaction)
      expect(bare).toHaveLength(1)
      expect(bare[0]?.query).toBe("BEGIN")
    })
  )
})
