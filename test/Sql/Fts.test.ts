/**
 * The full-text GIN index is usable by the app role under row-level security (migration 0005): with sequential
 * scans disabled, the planner picks the GIN index if the condition may run below the policy, and a sequential scan
 * (disabled but unavoidable) if not. The owner, to whom no policy applies, is the control.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { RequestContext } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner, TestDatabase } from "../support/Database.js"
import { tenant } from "./Fixtures.js"

const t = tenant("fts")
const QUERY = `SELECT id FROM logs WHERE to_tsvector('simple', message) @@ websearch_to_tsquery('simple', 'needle')`

const plan = (rows: ReadonlyArray<object>) => rows.map((r) => Object.values(r)[0] as string).join("\n")

layer(TestDatabase.layer("fts"), { timeout: 60_000 })("full-text search under RLS", (it) => {
  it.effect("the app role's full-text condition is an index condition on the GIN index", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* asOwner((c) =>
        c.query(`INSERT INTO logs (time, organization_id, project_id, service, level, message)
          SELECT now(), '${t.org}', '${t.project}', 's', 'info', 'haystack ' || g FROM generate_series(1, 2000) g;
          INSERT INTO logs (time, organization_id, project_id, service, level, message)
          VALUES (now(), '${t.org}', '${t.project}', 's', 'info', 'the needle');
          ANALYZE logs;`)
      )
      const asApp = yield* Tenant.transaction(
        Effect.zipRight(sql`SET LOCAL enable_seqscan = off`, sql.unsafe(`EXPLAIN ${QUERY}`))
      ).pipe(RequestContext.withContext(t.userCtx))
      const found = yield* Tenant.transaction(sql.unsafe<{ id: string }>(QUERY)).pipe(
        RequestContext.withContext(t.userCtx)
      )
      const asOwnerPlan = yield* asOwner(async (c) => {
        await c.query("BEGIN")
        await c.query("SET LOCAL enable_seqscan = off")
        const r = await c.query(`EXPLAIN ${QUERY}`)
        await c.query("ROLLBACK")
        return r.rows as Array<Record<string, unknown>>
      })
      expect(plan(asOwnerPlan)).toContain("to_tsvector_idx")
      expect(plan(asApp)).toContain("to_tsvector_idx")
      expect(plan(asApp)).not.toContain("Seq Scan")
      expect(found).toHaveLength(1)
    })
  )
})
