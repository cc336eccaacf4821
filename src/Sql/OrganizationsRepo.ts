/**
 * Organizations. Every operation acts on THE context's organization (`id = ctx.organizationId`): to create one,
 * mint its id, build a context for it and insert under that context (its policy admits only that id).
 * `membership` and `listForUser` are the pre-tenant lookups used to resolve `{org}` routes and `GET /orgs`.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { OrganizationId, RequestContext, UserId } from "../RequestContext.js"
import { after, CursorAt, cursorAt, type KeysetPage } from "./Keyset.js"
import { inTenant, insertInTenant, plain } from "./RepoSupport.js"
import { Tenant } from "./Tenant.js"

export const Role = Schema.Literal("owner", "admin", "member")
export type Role = typeof Role.Type

export const Organization = Schema.Struct({
  id: OrganizationId,
  slug: Schema.String,
  name: Schema.String,
  retentionDays: Schema.Number,
  createdAt: Schema.DateFromSelf,
  updatedAt: Schema.DateFromSelf
})
export type Organization = typeof Organization.Type

export const Membership = Schema.Struct({
  organizationId: OrganizationId,
  slug: Schema.String,
  name: Schema.String,
  retentionDays: Schema.Number,
  role: Role
})
export type Membership = typeof Membership.Type

export const NewOrganization = Schema.Struct({
  slug: Schema.String,
  name: Schema.String,
  retentionDays: Schema.optional(Schema.Number)
})

export const OrganizationPatch = Schema.Struct({
  name: Schema.optional(Schema.String),
  retentionDays: Schema.optional(Schema.Number)
})

export class OrganizationsRepo extends Effect.Service<OrganizationsRepo>()("Sql/OrganizationsRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)

    /** Creates the context's organization. Fails with DuplicateKey (`organizations_slug_key`, `…_pkey`). */
    const insert = (input: typeof NewOrganization.Type) =>
      insertInTenant(sql)(
        Effect.flatMap(RequestContext, (ctx) =>
          SqlSchema.single({
            Request: NewOrganization,
            Result: Organization,
            execute: (o) => sql`INSERT INTO organizations (id, slug, name, retention_days)
              VALUES (${ctx.organizationId}, ${o.slug}, ${o.name}, ${o.retentionDays ?? 30}) RETURNING *`
          })(input)
        )
      ).pipe(Effect.withSpan("OrganizationsRepo.insert"))

    /** The context's organization, if it exists (and is visible: it always is to its own context). */
    const current = scoped(
      Effect.gen(function* () {
        const filter = yield* Tenant.orgFilter(sql, "id")
        return yield* SqlSchema.findOne({
          Request: Schema.Void,
          Result: Organization,
          execute: () => sql`SELECT * FROM organizations WHERE ${filter}`
        })(undefined)
      })
    ).pipe(Effect.withSpan("OrganizationsRepo.current"))

    const update = (patch: typeof OrganizationPatch.Type) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql, "id")
          return yield* SqlSchema.findOne({
            Request: OrganizationPatch,
            Result: Organization,
            execute: (p) => sql`UPDATE organizations SET
                name = coalesce(${p.name ?? null}, name),
                retention_days = coalesce(${p.retentionDays ?? null}::int, retention_days),
                updated_at = now()
              WHERE ${filter} RETURNING *`
          })(patch)
        })
      ).pipe(Effect.withSpan("OrganizationsRepo.update"))

    /** Deletes the context's organization (cascading to its tenant rows); false when nothing was deleted. */
    const remove = scoped(
      Effect.gen(function* () {
        const filter = yield* Tenant.orgFilter(sql, "id")
        const rows = yield* sql`DELETE FROM organizations WHERE ${filter} AND id <> 'org_system' RETURNING id`
        return rows.length > 0
      })
    ).pipe(Effect.withSpan("OrganizationsRepo.remove"))

    /** PRE-TENANT: the user's membership in the organization with this id or slug (SECURITY DEFINER lookup). */
    const membership = (orgIdOrSlug: string, userId: UserId) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.Struct({ org: Schema.String, user: UserId }),
          Result: Membership,
          execute: (r) => sql`SELECT * FROM threadline_membership(${r.org}, ${r.user})`
        })({ org: orgIdOrSlug, user: userId })
      ).pipe(Effect.withSpan("OrganizationsRepo.membership"))

    /** PRE-TENANT: every organization the user belongs to (not `org_system`), oldest first. */
    const listForUser = (userId: UserId) =>
      plain(
        SqlSchema.findAll({
          Request: UserId,
          Result: Schema.Struct({ ...Membership.fields, createdAt: Schema.DateFromSelf }),
          execute: (u) => sql`SELECT * FROM threadline_user_organizations(${u})`
        })(userId)
      ).pipe(Effect.withSpan("OrganizationsRepo.listForUser"))

    /** PRE-TENANT: one keyset page of the user's organizations (Keyset.ts), oldest first. */
    const listForUserPage = (userId: UserId, page: KeysetPage) =>
      plain(
        SqlSchema.findAll({
          Request: UserId,
          Result: Schema.Struct({ ...Membership.fields, createdAt: Schema.DateFromSelf, cursorAt: CursorAt }),
          execute: (u) => sql`SELECT o.*, ${cursorAt(sql, "o.created_at")}
            FROM threadline_user_organizations(${u}) o
            WHERE ${after(sql, page, "o.created_at", "o.organization_id")}
            ORDER BY o.created_at, o.organization_id LIMIT ${page.limit}`
        })(userId)
      ).pipe(Effect.withSpan("OrganizationsRepo.listForUserPage"))

    /** PRE-TENANT: the organization with this id or slug, without a membership check (SECURITY DEFINER lookup). */
    const findRef = (orgIdOrSlug: string) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.String,
          Result: Schema.Struct({ id: OrganizationId, slug: Schema.String }),
          execute: (org) => sql`SELECT * FROM threadline_organization_ref(${org})`
        })(orgIdOrSlug)
      ).pipe(Effect.withSpan("OrganizationsRepo.findRef"))

    /**
     * PRE-TENANT: how many organizations the user belongs to (not `org_system`). Inside a transaction, pass
     * `lock: true` first: a transaction-scoped advisory lock per user then serializes everything that adds the user
     * to an organization (creating one, accepting an invitation), so two at the limit − 1 cannot both pass.
     */
    const countForUser = (userId: UserId, options: { readonly lock: boolean } = { lock: false }) =>
      plain(
        Effect.gen(function* () {
          if (options.lock) {
            yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`threadline:user-orgs:${userId}`}, 0))`
          }
          const rows = yield* sql<{
            readonly n: number
          }>`SELECT count(*)::int AS n FROM threadline_user_organizations(${userId})`
          return rows[0]?.n ?? 0
        })
      ).pipe(Effect.withSpan("OrganizationsRepo.countForUser"))

    return {
      insert,
      current,
      update,
      remove,
      membership,
      listForUser,
      listForUserPage,
      findRef,
      countForUser
    } as const
  })
}) {}
