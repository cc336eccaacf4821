/**
 * API keys of the context's organization. Only the SHA-256 hash of a secret is stored (and a short prefix for
 * display). `findActiveByHash` is the pre-tenant lookup behind API-key authentication.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { ApiKeyId, OrganizationId, ProjectId, RequestContext, UserId } from "../RequestContext.js"
import { after, CursorAt, cursorAt, type KeysetPage } from "./Keyset.js"
import { inTenant, insertInTenant, plain } from "./RepoSupport.js"
import { Tenant } from "./Tenant.js"

export const ApiKeyType = Schema.Literal("write", "full")
export type ApiKeyType = typeof ApiKeyType.Type

export const ApiKey = Schema.Struct({
  id: ApiKeyId,
  organizationId: OrganizationId,
  projectId: ProjectId,
  name: Schema.String,
  type: ApiKeyType,
  prefix: Schema.String,
  createdBy: Schema.NullOr(UserId),
  createdAt: Schema.DateFromSelf,
  lastUsedAt: Schema.NullOr(Schema.DateFromSelf),
  revokedAt: Schema.NullOr(Schema.DateFromSelf)
})
export type ApiKey = typeof ApiKey.Type

/** What authentication needs to build a context; only keys that are not revoked are found. */
export const ActiveKey = Schema.Struct({
  id: ApiKeyId,
  organizationId: OrganizationId,
  projectId: ProjectId,
  type: ApiKeyType
})
export type ActiveKey = typeof ActiveKey.Type

export interface NewApiKey {
  readonly id: ApiKeyId
  readonly projectId: ProjectId
  readonly name: string
  readonly type: ApiKeyType
  readonly keyHash: string
  readonly prefix: string
  readonly createdBy: UserId | null
}

const COLUMNS = "id, organization_id, project_id, name, type, prefix, created_by, created_at, last_used_at, revoked_at"

export class ApiKeysRepo extends Effect.Service<ApiKeysRepo>()("Sql/ApiKeysRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)
    const columns = sql.literal(COLUMNS)

    /** Keys of the organization, or of one of its projects, oldest first (revoked ones included). */
    const list = (projectId?: ProjectId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          const project = projectId === undefined ? sql.literal("TRUE") : sql`project_id = ${projectId}`
          return yield* SqlSchema.findAll({
            Request: Schema.Void,
            Result: ApiKey,
            execute: () => sql`SELECT ${columns} FROM api_keys WHERE ${filter} AND ${project}
              ORDER BY created_at, id`
          })(undefined)
        })
      ).pipe(Effect.withSpan("ApiKeysRepo.list"))

    /** One keyset page of a project's keys (Keyset.ts), oldest first, revoked ones included. */
    const listPage = (projectId: ProjectId, page: KeysetPage) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findAll({
            Request: Schema.Void,
            Result: Schema.Struct({ ...ApiKey.fields, cursorAt: CursorAt }),
            execute: () => sql`SELECT ${columns}, ${cursorAt(sql, "created_at")} FROM api_keys
              WHERE ${filter} AND project_id = ${projectId} AND ${after(sql, page, "created_at", "id")}
              ORDER BY created_at, id LIMIT ${page.limit}`
          })(undefined)
        })
      ).pipe(Effect.withSpan("ApiKeysRepo.listPage"))

    /** The project must belong to the context's organization (composite foreign key), else this dies. */
    const insert = (input: NewApiKey) =>
      insertInTenant(sql)(
        Effect.flatMap(RequestContext, (ctx) =>
          SqlSchema.single({
            Request: Schema.Void,
            Result: ApiKey,
            execute: () => sql`INSERT INTO api_keys
                (id, organization_id, project_id, name, type, key_hash, prefix, created_by)
              VALUES (${input.id}, ${ctx.organizationId}, ${input.projectId}, ${input.name}, ${input.type},
                ${input.keyHash}, ${input.prefix}, ${input.createdBy})
              RETURNING ${columns}`
          })(undefined)
        )
      ).pipe(Effect.withSpan("ApiKeysRepo.insert"))

    /** Revokes a key of the organization; false when there is no such unrevoked key. */
    const revoke = (id: ApiKeyId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          const rows = yield* sql`UPDATE api_keys SET revoked_at = now()
            WHERE ${filter} AND id = ${id} AND revoked_at IS NULL RETURNING id`
          return rows.length > 0
        })
      ).pipe(Effect.withSpan("ApiKeysRepo.revoke"))

    /** Records use of the context's own key, at most once a minute (saves a write per request); true if written. */
    const touch = scoped(
      Effect.gen(function* () {
        const ctx = yield* RequestContext
        if (ctx.apiKeyId === null) return false
        const filter = yield* Tenant.orgFilter(sql)
        const rows = yield* sql`UPDATE api_keys SET last_used_at = now()
          WHERE ${filter} AND id = ${ctx.apiKeyId}
            AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') RETURNING id`
        return rows.length > 0
      })
    ).pipe(Effect.withSpan("ApiKeysRepo.touch"))

    const countActive = scoped(
      Effect.gen(function* () {
        const filter = yield* Tenant.orgFilter(sql)
        const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM api_keys
          WHERE ${filter} AND revoked_at IS NULL`
        return rows[0]?.n ?? 0
      })
    ).pipe(Effect.withSpan("ApiKeysRepo.countActive"))

    /** PRE-TENANT: the unrevoked key with this SHA-256 hash (hex), via a SECURITY DEFINER function. */
    const findActiveByHash = (keyHash: string) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.String,
          Result: ActiveKey,
          execute: (h) => sql`SELECT * FROM threadline_api_key_by_hash(${h})`
        })(keyHash)
      ).pipe(Effect.withSpan("ApiKeysRepo.findActiveByHash"))

    return { list, listPage, insert, revoke, touch, countActive, findActiveByHash } as const
  })
}) {}
