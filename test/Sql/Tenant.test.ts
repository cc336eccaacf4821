import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Cause, Data, Effect, Exit } from "effect"
import { RequestContext } from "../../src/RequestContext.js"
import { ReadSql } from "../../src/Sql/Client.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner, TestDatabase } from "../support/Database.js"
import { tenant } from "./Fixtures.js"

const a = tenant("ta")
const b = tenant("tb")
const system = RequestContext.system("tenant-test")

class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {}

const insertOrg = (t: typeof a) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Tenant.transaction(sql`INSERT INTO organizations (id, slug, name) VALUES (${t.org}, ${t.slug}, 'x')`)
  ).pipe(RequestContext.withContext(t.userCtx))

const orgIds = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ id: string }>`SELECT id FROM organizations ORDER BY id`
)

const errorCode = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? JSON.stringify(Cause.squash(exit.cause), ["cause", "code"]) : "success"

layer(TestDatabase.layer("tenant"), { timeout: 60_000 })("Tenant", (it) => {
  it.effect("runtime connections log in as threadline_app itself, not as the owner", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ currentUser: string; sessionUser: string }>`SELECT current_user, session_user`
      expect(rows[0]).toEqual({ currentUser: "threadline_app", sessionUser: "threadline_app" })
      yield* insertOrg(a)
      yield* insertOrg(b)
    })
  )

  it.effect("a tenant transaction sees and changes only its organization's rows", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      expect(yield* Tenant.transaction(orgIds).pipe(RequestContext.withContext(a.userCtx))).toEqual([{ id: a.org }])
      const renamed = yield* Tenant.transaction(sql`UPDATE organizations SET name = 'y' RETURNING id`).pipe(
        RequestContext.withContext(b.userCtx)
      )
      expect(renamed).toEqual([{ id: b.org }])
      const all = yield* asOwner((c) => c.query<{ id: string; name: string }>("SELECT id, name FROM organizations"))
      expect(all.rows.find((r) => r.id === a.org)?.name).toBe("x")
    })
  )

  it.effect("outside a tenant transaction the policies show nothing and refuse writes", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      expect(yield* orgIds).toEqual([])
      const exit = yield* Effect.exit(
        sql`INSERT INTO projects (id, organization_id, name) VALUES ('prj_x', ${a.org}, 'n')`
      )
      expect(errorCode(exit)).toContain("42501")
      // the setting is transaction-local: nothing lingers on the pooled connection
      const setting = yield* sql<{ s: string | null }>`SELECT current_setting('threadline.organization_id', true) AS s`
      expect([null, ""]).toContain(setting[0]?.s ?? null)
    })
  )

  it.effect("WITH CHECK: a tenant cannot write a row for another organization", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.exit(
        Tenant.transaction(sql`INSERT INTO projects (id, organization_id, name) VALUES ('prj_x', ${a.org}, 'n')`).pipe(
          RequestContext.withContext(b.userCtx)
        )
      )
      // the statement is the caller's own effect: its SqlError passes through (a defect only for BEGIN/COMMIT)
      expect(Exit.isFailure(exit) && Cause.isFailType(exit.cause)).toBe(true)
      expect(errorCode(exit)).toContain("42501")
    })
  )

  it.effect("the caller's failure passes through unchanged and rolls the transaction back", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.exit(
        Tenant.transaction(
          Effect.zipRight(
            sql`INSERT INTO projects (id, organization_id, name) VALUES ('prj_rb', ${a.org}, 'n')`,
            new Boom({ n: 7 })
          )
        ).pipe(RequestContext.withContext(a.userCtx))
      )
      expect(exit).toEqual(Exit.fail(new Boom({ n: 7 })))
      const left = yield* asOwner((c) => c.query("SELECT id FROM projects WHERE id = 'prj_rb'"))
      expect(left.rowCount).toBe(0)
    })
  )

  it.effect("nested: another organization's transaction switches the setting and hands it back", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const current = sql<{ s: string }>`SELECT current_setting('threadline.organization_id') AS s`
      const seen = yield* Tenant.transaction(
        Effect.gen(function* () {
          const inner = yield* Tenant.transaction(current).pipe(RequestContext.withContext(b.userCtx))
          const outer = yield* current
          return [inner[0]?.s, outer[0]?.s]
        })
      ).pipe(RequestContext.withContext(a.userCtx))
      expect(seen).toEqual([b.org, a.org])
    })
  )

  it.effect("Tenant.read scopes the read client the same way", () =>
    Effect.gen(function* () {
      const read = yield* ReadSql
      const rows = yield* Tenant.read(read<{ id: string }>`SELECT id FROM organizations`).pipe(
        RequestContext.withContext(b.userCtx)
      )
      expect(rows).toEqual([{ id: b.org }])
    })
  )

  it.effect("bypass: system only, runs as the owner, audited with its reason, and does not leak its role", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const refused = yield* Effect.exit(Tenant.bypass("nope", orgIds).pipe(RequestContext.withContext(a.userCtx)))
      expect(Exit.isFailure(refused) && Cause.isDie(refused.cause)).toBe(true)
      const seen = yield* Tenant.bypass(
        "tenant-test-sweep",
        Effect.zip(
          orgIds,
          sql<{ u: string; r: string }>`SELECT current_user AS u, current_setting('threadline.bypass') AS r`
        )
      ).pipe(RequestContext.withContext(system))
      expect(seen[0].map((r) => r.id)).toEqual(["org_system", a.org, b.org])
      expect(seen[1]).toEqual([{ u: "postgres", r: "tenant-test-sweep" }])
      const audit = yield* asOwner((c) =>
        c.query(
          "SELECT organization_id, actor_type, actor_id, actor_reason, action, target_id, request_id FROM audit_log"
        )
      )
      expect(audit.rows).toEqual([
        {
          organization_id: "org_system",
          actor_type: "system",
          actor_id: null,
          actor_reason: "tenant-test",
          action: "tenant.bypass",
          target_id: "tenant-test-sweep",
          request_id: system.requestId
        }
      ])
      const after = yield* sql<{ u: string }>`SELECT current_user AS u`
      expect(after).toEqual([{ u: "threadline_app" }])
    })
  )

  it.effect("bypass and tenant transactions do not nest in each other", () =>
    Effect.gen(function* () {
      const inTenant = yield* Effect.exit(
        Tenant.transaction(Tenant.bypass("x", orgIds).pipe(RequestContext.withContext(system))).pipe(
          RequestContext.withContext(a.userCtx)
        )
      )
      expect(Exit.isFailure(inTenant) && Cause.isDie(inTenant.cause)).toBe(true)
      const inBypass = yield* Effect.exit(
        Tenant.bypass("x", Tenant.transaction(orgIds).pipe(RequestContext.withContext(a.userCtx))).pipe(
          RequestContext.withContext(system)
        )
      )
      expect(Exit.isFailure(inBypass) && Cause.isDie(inBypass.cause)).toBe(true)
    })
  )

  it.effect("retention's maintenance function is out of the app role's reach, but not of the bypass", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const denied = yield* Effect.exit(
        Tenant.transaction(sql`SELECT * FROM logs_maintenance(now())`).pipe(
          RequestContext.withContext(RequestContext.system("maint"))
        )
      )
      expect(errorCode(denied)).toContain("42501")
      const ok = yield* Tenant.bypass("logs-retention", sql`SELECT * FROM logs_maintenance(now())`).pipe(
        RequestContext.withContext(RequestContext.system("maint"))
      )
      expect(ok).toHaveLength(1)
    })
  )
})
