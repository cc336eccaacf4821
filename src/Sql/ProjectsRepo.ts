/**
 * Projects of the context's organization. `current` is the context's own project (API-key contexts); the other
 * operations manage a project of the organization named by id (the target), never another organization's.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { OrganizationId, ProjectId, RequestContext } from "../RequestContext.js"
import { after, CursorAt, cursorAt, type KeysetPage } from "./Keyset.js"
import { inTenant, insertInTenant } from "./RepoSupport.js"
import { Tenant } from "./Tenant.js"

export const Project = Schema.Struct({
  id: ProjectId,
  organizationId: OrganizationId,
  name: Schema.String,
  createdAt: Schema.DateFromSelf,
  updatedAt: Schema.DateFromSelf
})
export type Project = typeof Project.Type

export class ProjectsRepo extends Effect.Service<ProjectsRepo>()("Sql/ProjectsRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)

    /** One keyset page of the organization's projects (Keyset.ts), oldest first. */
    const listPage = (page: KeysetPage) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findAll({
            Request: Schema.Void,
            Result: Schema.Struct({ ...Project.fields, cursorAt: CursorAt }),
            execute: () => sql`SELECT *, ${cursorAt(sql, "created_at")} FROM projects WHERE ${filter}
              AND ${after(sql, page, "created_at", "id")} ORDER BY created_at, id LIMIT ${page.limit}`
          })(undefined)
        })
      ).pipe(Effect.withSpan("ProjectsRepo.listPage"))

    const find = (id: ProjectId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findOne({
            Request: ProjectId,
            Result: Project,
            execute: (p) => sql`SELECT * FROM projects WHERE ${filter} AND id = ${p}`
          })(id)
        })
      ).pipe(Effect.withSpan("ProjectsRepo.find"))

    /** The context's project (none for contexts without one). */
    const current = Effect.flatMap(RequestContext, (ctx) =>
      ctx.projectId === null ? Effect.succeed(Option.none<Project>()) : find(ctx.projectId)
    )

    /** DuplicateKey `projects_organization_id_name_key` when the name is taken in the organization. */
    const insert = (input: { readonly id: ProjectId; readonly name: string }) =>
      insertInTenant(sql)(
        Effect.flatMap(RequestContext, (ctx) =>
          SqlSchema.single({
            Request: Schema.Struct({ id: ProjectId, name: Schema.String }),
            Result: Project,
            execute: (p) => sql`INSERT INTO projects (id, organization_id, name)
              VALUES (${p.id}, ${ctx.organizationId}, ${p.name}) RETURNING *`
          })(input)
        )
      ).pipe(Effect.withSpan("ProjectsRepo.insert"))

    const rename = (id: ProjectId, name: string) =>
      insertInTenant(sql)(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findOne({
            Request: Schema.Struct({ id: ProjectId, name: Schema.String }),
            Result: Project,
            execute: (p) => sql`UPDATE projects SET name = ${p.name}, updated_at = now()
              WHERE ${filter} AND id = ${p.id} RETURNING *`
          })({ id, name })
        })
      ).pipe(Effect.withSpan("ProjectsRepo.rename"))

    /** Deletes the project and (by cascade) its API keys; its logs expire with retention. */
    const remove = (id: ProjectId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          const rows = yield* sql`DELETE FROM projects WHERE ${filter} AND id = ${id} RETURNING id`
          return rows.length > 0
        })
      ).pipe(Effect.withSpan("ProjectsRepo.remove"))

    const count = scoped(
      Effect.gen(function* () {
        const filter = yield* Tenant.orgFilter(sql)
        const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM projects WHERE ${filter}`
        return rows[0]?.n ?? 0
      })
    ).pipe(Effect.withSpan("ProjectsRepo.count"))

    return { listPage, find, current, insert, rename, remove, count } as const
  })
}) {}
