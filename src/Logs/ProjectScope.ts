/**
 * Which project a search reads. An API key reads its own project only (another project id is "not found", never
 * "forbidden", so ids of other tenants cannot be probed); a session names the project, which must belong to the
 * context's organization.
 */
import { Effect } from "effect"
import { RequestContext } from "../RequestContext.js"
import { ReadSql } from "../Sql/Client.js"
import { Tenant } from "../Sql/Tenant.js"
import { InvalidQuery, ProjectNotFound } from "./QueryTypes.js"

export interface Scope {
  readonly organizationId: string
  readonly projectId: string
}

export class ProjectScope extends Effect.Service<ProjectScope>()("Logs/ProjectScope", {
  effect: Effect.gen(function* () {
    const sql = yield* ReadSql
    const notFound = (id: string) => new ProjectNotFound({ message: `project ${id} not found` })

    const resolve = Effect.fn("Logs.resolveProject")(function* (requested: string | undefined) {
      const ctx = yield* RequestContext
      if (ctx.projectId !== null) {
        if (requested !== undefined && requested !== ctx.projectId) return yield* notFound(requested)
        return { organizationId: ctx.organizationId, projectId: ctx.projectId } satisfies Scope
      }
      if (requested === undefined) return yield* new InvalidQuery({ message: "projectId is required" })
      const rows = yield* sql`SELECT id FROM projects
        WHERE id = ${requested} AND organization_id = ${ctx.organizationId}`.pipe(
        Effect.orDie,
        Tenant.read,
        Effect.provideService(ReadSql, sql)
      )
      if (rows.length === 0) return yield* notFound(requested)
      return { organizationId: ctx.organizationId, projectId: requested } satisfies Scope
    })
    return { resolve } as const
  })
}) {}
