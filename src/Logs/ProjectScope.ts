/**
 * Which project a search reads, and the context it reads under. An API key reads its own project only (another
 * project id is "not found", never "forbidden", so ids of other tenants cannot be probed). A session names the
 * project: on a route without `{org}` its context is `org_system` (docs/decisions.md D6), so the project's
 * organization is found with a pre-tenant lookup, the user's membership there is checked, and the search runs under
 * a context carrying that organization and project (RLS, SQL comments and log lines then name the real tenant).
 * Unknown project and "not a member" are the same 404.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option, Schema } from "effect"
import {
  OrganizationId,
  ProjectId,
  RequestContext,
  type RequestContextData,
  SYSTEM_ORGANIZATION_ID
} from "../RequestContext.js"
import { limit, RequestLimiter } from "../Http/RequestLimiter.js"
import { ReadSql } from "../Sql/Client.js"
import { OrganizationsRepo } from "../Sql/OrganizationsRepo.js"
import { Tenant } from "../Sql/Tenant.js"
import { projectRef } from "./ProjectRef.js"
import { InvalidQuery, ProjectNotFound } from "./QueryTypes.js"

export interface Scope {
  readonly organizationId: string
  readonly projectId: string
}

/** The scope and the context to run the search under (the same organization and project). */
export interface Resolved {
  readonly scope: Scope
  readonly context: RequestContextData
}

const resolved = (ctx: RequestContextData, organizationId: OrganizationId, projectId: ProjectId): Resolved => ({
  scope: { organizationId, projectId },
  context: { ...ctx, organizationId, projectId }
})

const isProjectId = Schema.is(ProjectId)
const isOrganizationId = Schema.is(OrganizationId)

export class ProjectScope extends Effect.Service<ProjectScope>()("Logs/ProjectScope", {
  effect: Effect.gen(function* () {
    const sql = yield* ReadSql
    const organizations = yield* OrganizationsRepo
    const rateLimit = limit(yield* RequestLimiter)
    const notFound = (id: string) => new ProjectNotFound({ message: `project ${id} not found` })

    /** A session: the project's organization, if the user is a member of it (and it is the context's, if any). */
    const forUser = Effect.fn("Logs.resolveProjectForUser")(function* (
      ctx: RequestContextData,
      userId: RequestContextData["userId"] & string,
      requested: string
    ) {
      if (!isProjectId(requested)) return yield* notFound(requested)
      const ref = yield* projectRef(sql, requested)
      if (Option.isNone(ref) || !isOrganizationId(ref.value.organizationId)) return yield* notFound(requested)
      const organizationId = ref.value.organizationId
      if (ctx.organizationId !== SYSTEM_ORGANIZATION_ID && ctx.organizationId !== organizationId) {
        return yield* notFound(requested)
      }
      const member = yield* organizations.membership(organizationId, userId)
      if (Option.isNone(member)) return yield* notFound(requested)
      const out = resolved(ctx, organizationId, requested)
      // the organization's rate-limit bucket (authentication counted the session's user bucket)
      yield* rateLimit(out.context)
      return out
    })

    /** The scope of a search on `requested` (or the context's own project) and the context to run it under. */
    const resolve = Effect.fn("Logs.resolveProject")(function* (requested: string | undefined) {
      const ctx = yield* RequestContext
      if (ctx.projectId !== null) {
        if (requested !== undefined && requested !== ctx.projectId) return yield* notFound(requested)
        return resolved(ctx, ctx.organizationId, ctx.projectId)
      }
      if (requested === undefined) return yield* InvalidQuery.of("projectId", "is required")
      if (ctx.actor._tag === "user") return yield* forUser(ctx, ctx.actor.userId, requested)
      // a system actor with an organization (e.g. alert evaluation): the project must be that organization's
      if (!isProjectId(requested)) return yield* notFound(requested)
      const rows = yield* sql`SELECT id FROM projects
        WHERE id = ${requested} AND organization_id = ${ctx.organizationId}`.pipe(
        Effect.orDie,
        Tenant.read,
        Effect.provideService(ReadSql, sql)
      )
      if (rows.length === 0) return yield* notFound(requested)
      return resolved(ctx, ctx.organizationId, requested)
    })

    /** Runs `f` on the resolved scope, under the resolved context. */
    const within = <A, E, R>(requested: string | undefined, f: (scope: Scope) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(resolve(requested), (r) => f(r.scope).pipe(RequestContext.withContext(r.context)))

    return { resolve, within } as const
  }),
  // the membership lookup is a read: on the read client, so this service needs nothing but ReadSql
  dependencies: [OrganizationsRepo.Default.pipe(Layer.provide(Layer.effect(SqlClient.SqlClient, ReadSql)))]
}) {}
