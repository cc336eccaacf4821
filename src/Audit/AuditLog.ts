/**
 * The audit trail. `record` writes one row describing a mutation, with the actor (user, API key or system and its
 * reason), organization, project and request id taken from the RequestContext, inside the caller's tenant
 * transaction. `audited(mutation, describe)` runs the mutation and its row in ONE transaction, so neither commits
 * without the other. `list` pages newest first with filters, for `GET /orgs/{org}/audit-log`.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { type Actor, OrganizationId, RequestContext } from "../RequestContext.js"
import { inTenant } from "../Sql/RepoSupport.js"
import { Tenant } from "../Sql/Tenant.js"
import { AuditCursor, InvalidAuditCursor } from "./AuditCursor.js"

export const ActorType = Schema.Literal("user", "api_key", "system")
export type ActorType = typeof ActorType.Type

export interface AuditInput {
  /** Dotted verb, e.g. `project.create`, `api_key.revoke`. */
  readonly action: string
  readonly target: { readonly type: string; readonly id: string | null }
  /** JSON-serialisable; never secrets (store a key's prefix, not the key). */
  readonly changes?: unknown
}

export const AuditEntry = Schema.Struct({
  id: Schema.String,
  organizationId: OrganizationId,
  projectId: Schema.NullOr(Schema.String),
  actorType: ActorType,
  actorId: Schema.NullOr(Schema.String),
  actorReason: Schema.NullOr(Schema.String),
  action: Schema.String,
  targetType: Schema.String,
  targetId: Schema.NullOr(Schema.String),
  changes: Schema.NullOr(Schema.Unknown),
  requestId: Schema.String,
  createdAt: Schema.DateFromSelf
})
export type AuditEntry = typeof AuditEntry.Type

export interface AuditFilters {
  readonly action?: string | undefined
  readonly actorType?: ActorType | undefined
  readonly targetType?: string | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  readonly cursor?: string | undefined
  readonly limit?: number | undefined
}

export interface AuditPage {
  readonly entries: ReadonlyArray<AuditEntry>
  readonly nextCursor: string | null
}

const actorColumns = (actor: Actor): readonly [ActorType, string | null, string | null] => {
  switch (actor._tag) {
    case "user":
      return ["user", actor.userId, null]
    case "apiKey":
      return ["api_key", actor.apiKeyId, null]
    case "system":
      return ["system", null, actor.reason]
  }
}

export { InvalidAuditCursor }

export class AuditLog extends Effect.Service<AuditLog>()("Audit/AuditLog", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)

    /** Writes the row in the caller's tenant transaction (or its own when there is none). */
    const record = (input: AuditInput) =>
      scoped(
        Effect.gen(function* () {
          const ctx = yield* RequestContext
          const [actorType, actorId, actorReason] = actorColumns(ctx.actor)
          const changes = input.changes === undefined ? null : JSON.stringify(input.changes)
          yield* sql`INSERT INTO audit_log (organization_id, project_id, actor_type, actor_id, actor_reason, action,
              target_type, target_id, changes, request_id)
            VALUES (${ctx.organizationId}, ${ctx.projectId}, ${actorType}, ${actorId}, ${actorReason},
              ${input.action}, ${input.target.type}, ${input.target.id}, ${changes}::jsonb, ${ctx.requestId})`
        })
      ).pipe(Effect.withSpan("AuditLog.record", { attributes: { action: input.action } }))

    /** Runs `mutation` and records `describe(result)` in the same transaction: both commit or neither does. */
    const audited = <A, E, R>(mutation: Effect.Effect<A, E, R>, describe: (a: A) => AuditInput) =>
      Tenant.transaction(Effect.tap(mutation, (a) => record(describe(a)))).pipe(
        Effect.provideService(SqlClient.SqlClient, sql)
      )

    const list = (filters: AuditFilters) =>
      Effect.gen(function* () {
        const before = filters.cursor === undefined ? null : yield* AuditCursor.decode(filters.cursor)
        const limit = Math.min(Math.max(Math.trunc(filters.limit ?? 50), 1), 200)
        const rows = yield* scoped(
          Effect.gen(function* () {
            const clauses = [yield* Tenant.orgFilter(sql)]
            if (filters.action !== undefined) clauses.push(sql`action = ${filters.action}`)
            if (filters.actorType !== undefined) clauses.push(sql`actor_type = ${filters.actorType}`)
            if (filters.targetType !== undefined) clauses.push(sql`target_type = ${filters.targetType}`)
            if (filters.from !== undefined) clauses.push(sql`created_at >= ${filters.from}`)
            if (filters.to !== undefined) clauses.push(sql`created_at < ${filters.to}`)
            if (before !== null) clauses.push(sql`id < ${before}::bigint`)
            return yield* SqlSchema.findAll({
              Request: Schema.Void,
              Result: AuditEntry,
              execute: () => sql`SELECT id::text AS id, organization_id, project_id, actor_type, actor_id,
                  actor_reason, action, target_type, target_id, changes, request_id, created_at
                FROM audit_log WHERE ${sql.and(clauses)}
                -- qualified: a bare id would sort by the text output column
                ORDER BY audit_log.id DESC LIMIT ${limit + 1}`
            })(undefined)
          })
        )
        const entries = rows.slice(0, limit)
        const last = entries[entries.length - 1]
        const nextCursor = rows.length > limit && last !== undefined ? AuditCursor.encode(last.id) : null
        return { entries, nextCursor } satisfies AuditPage
      }).pipe(Effect.withSpan("AuditLog.list"))

    return { record, audited, list } as const
  })
}) {}
