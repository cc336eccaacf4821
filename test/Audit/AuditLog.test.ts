import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Layer } from "effect"
import { AuditLog } from "../../src/Audit/AuditLog.js"
import { type ProjectId, RequestContext } from "../../src/RequestContext.js"
import { ProjectsRepo } from "../../src/Sql/ProjectsRepo.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner, TestDatabase } from "../support/Database.js"
import { ReposLive, seedTenant, tenant } from "../Sql/Fixtures.js"

const t = tenant("audit")
class Refused extends Data.TaggedError("Refused") {}

interface AuditRow {
  readonly organization_id: string
  readonly project_id: string | null
  readonly actor_type: string
  readonly actor_id: string | null
  readonly actor_reason: string | null
  readonly target_type: string
  readonly target_id: string | null
  readonly changes: unknown
  readonly request_id: string
}

const Env = ReposLive.pipe(Layer.provideMerge(TestDatabase.layer("audit")))

const rowsOf = (action: string) =>
  asOwner((c) =>
    c.query<AuditRow>(
      `SELECT organization_id, project_id, actor_type, actor_id, actor_reason, target_type, target_id, changes, request_id
       FROM audit_log WHERE action = $1 ORDER BY id`,
      [action]
    )
  ).pipe(Effect.map((r) => r.rows))

const projectExists = (id: string) =>
  asOwner((c) => c.query("SELECT 1 FROM projects WHERE id = $1", [id])).pipe(Effect.map((r) => r.rowCount === 1))

const createProject = (id: string) =>
  Effect.gen(function* () {
    const audit = yield* AuditLog
    const projects = yield* ProjectsRepo
    return yield* audit.audited(projects.insert({ id: id as ProjectId, name: id }), (p) => ({
      action: "project.create",
      target: { type: "project", id: p.id },
      changes: { name: p.name }
    }))
  })

layer(Env, { timeout: 60_000 })("AuditLog", (it) => {
  it.effect("setup", () => seedTenant(t))

  it.effect("a successful mutation leaves its change and its row, with the context's actor and request id", () =>
    Effect.gen(function* () {
      yield* createProject("prj_ok").pipe(RequestContext.withContext(t.userCtx))
      expect(yield* projectExists("prj_ok")).toBe(true)
      expect(yield* rowsOf("project.create")).toEqual([
        {
          organization_id: t.org,
          project_id: null,
          actor_type: "user",
          actor_id: t.user,
          actor_reason: null,
          target_type: "project",
          target_id: "prj_ok",
          changes: { name: "prj_ok" },
          request_id: t.userCtx.requestId
        }
      ])
    })
  )

  it.effect("a mutation that fails leaves neither its change nor a row", () =>
    Effect.gen(function* () {
      const audit = yield* AuditLog
      const projects = yield* ProjectsRepo
      const exit = yield* Effect.exit(
        audit
          .audited(Effect.zipRight(projects.insert({ id: "prj_fail" as ProjectId, name: "f" }), new Refused()), () => ({
            action: "project.fail",
            target: { type: "project", id: "prj_fail" }
          }))
          .pipe(RequestContext.withContext(t.userCtx))
      )
      expect(exit).toEqual(Exit.fail(new Refused()))
      expect(yield* projectExists("prj_fail")).toBe(false)
      expect(yield* rowsOf("project.fail")).toEqual([])
    })
  )

  it.effect("a mutation cannot commit without its row: when the row cannot be written, the change is undone", () =>
    Effect.gen(function* () {
      const audit = yield* AuditLog
      const projects = yield* ProjectsRepo
      const exit = yield* Effect.exit(
        audit
          .audited(projects.insert({ id: "prj_norow" as ProjectId, name: "n" }), () => ({
            action: "project.norow",
            // target_type is NOT NULL: the audit insert fails
            target: { type: null as unknown as string, id: "prj_norow" }
          }))
          .pipe(RequestContext.withContext(t.userCtx))
      )
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(yield* projectExists("prj_norow")).toBe(false)
    })
  )

  it.effect("record joins the caller's transaction: a later failure removes both", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const audit = yield* AuditLog
      const exit = yield* Effect.exit(
        Tenant.transaction(
          Effect.gen(function* () {
            yield* sql`UPDATE projects SET name = 'renamed' WHERE id = ${t.project}`
            yield* audit.record({ action: "project.rename", target: { type: "project", id: t.project } })
            return yield* new Refused()
          })
        ).pipe(RequestContext.withContext(t.userCtx))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* rowsOf("project.rename")).toEqual([])
    })
  )

  it.effect("API-key and system actors", () =>
    Effect.gen(function* () {
      const audit = yield* AuditLog
      const entry = { action: "actor.check", target: { type: "thing", id: null } }
      yield* audit.record(entry).pipe(RequestContext.withContext(t.keyCtx))
      const sys = RequestContext.system("nightly cleanup", { organizationId: t.org })
      yield* audit.record(entry).pipe(RequestContext.withContext(sys))
      const rows = yield* rowsOf("actor.check")
      expect(rows.map((r) => [r.actor_type, r.actor_id, r.actor_reason, r.project_id, r.request_id])).toEqual([
        ["api_key", t.key, null, t.project, t.keyCtx.requestId],
        ["system", null, "nightly cleanup", null, sys.requestId]
      ])
    })
  )

  it.effect("list: filters and cursor pages without gaps or repeats", () =>
    Effect.gen(function* () {
      const audit = yield* AuditLog
      for (let i = 0; i < 7; i++) {
        yield* audit.record({
          action: i % 2 === 0 ? "page.even" : "page.odd",
          target: { type: i < 3 ? "a" : "b", id: `t${i}` }
        })
      }
      const all: Array<string> = []
      let cursor: string | undefined
      do {
        const page = yield* audit.list({ limit: 3, cursor, targetType: "b" })
        all.push(...page.entries.map((e) => e.targetId ?? ""))
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      expect(all).toEqual(["t6", "t5", "t4", "t3"])
      const even = yield* audit.list({ action: "page.even" })
      expect(even.entries.map((e) => e.targetId)).toEqual(["t6", "t4", "t2", "t0"])
      const users = yield* audit.list({ actorType: "user", action: "page.odd" })
      expect(users.entries.map((e) => e.targetId)).toEqual(["t5", "t3", "t1"])
      const systems = yield* audit.list({ actorType: "system" })
      expect(systems.entries.map((e) => e.action)).toEqual(["actor.check"])
      const future = yield* audit.list({ from: new Date(Date.now() + 60_000) })
      expect(future.entries).toEqual([])
      const past = yield* audit.list({ to: new Date(0) })
      expect(past.entries).toEqual([])
      const bad = yield* Effect.exit(audit.list({ cursor: "not-a-cursor" }))
      expect(Exit.isFailure(bad)).toBe(true)
    }).pipe(RequestContext.withContext(t.userCtx))
  )
})
