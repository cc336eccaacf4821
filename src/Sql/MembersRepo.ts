/**
 * Members of the context's organization. The member (user) id is the target of the operation; the organization
 * is always the context's.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { RequestContext, UserId } from "../RequestContext.js"
import { Role } from "./OrganizationsRepo.js"
import { after, CursorAt, cursorAt, type KeysetPage } from "./Keyset.js"
import { inTenant, insertInTenant } from "./RepoSupport.js"
import { Tenant } from "./Tenant.js"

export const Member = Schema.Struct({
  userId: UserId,
  email: Schema.String,
  name: Schema.String,
  role: Role,
  createdAt: Schema.DateFromSelf
})
export type Member = typeof Member.Type

const MEMBER_COLUMNS = "m.user_id, u.email, u.name, m.role, m.created_at"
const MEMBER_FROM = "FROM organization_members m JOIN users u ON u.id = m.user_id"
const SELECT_MEMBER = `SELECT ${MEMBER_COLUMNS} ${MEMBER_FROM}`

export class MembersRepo extends Effect.Service<MembersRepo>()("Sql/MembersRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)
    const memberQuery = sql.literal(SELECT_MEMBER)

    /** One keyset page of the members (Keyset.ts), oldest first. */
    const listPage = (page: KeysetPage) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql, "m.organization_id")
          return yield* SqlSchema.findAll({
            Request: Schema.Void,
            Result: Schema.Struct({ ...Member.fields, cursorAt: CursorAt }),
            execute: () => sql`SELECT ${sql.literal(MEMBER_COLUMNS)}, ${cursorAt(sql, "m.created_at")}
              ${sql.literal(MEMBER_FROM)} WHERE ${filter}
              AND ${after(sql, page, "m.created_at", "m.user_id")}
              ORDER BY m.created_at, m.user_id LIMIT ${page.limit}`
          })(undefined)
        })
      ).pipe(Effect.withSpan("MembersRepo.listPage"))

    const find = (userId: UserId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql, "m.organization_id")
          return yield* SqlSchema.findOne({
            Request: UserId,
            Result: Member,
            execute: (id) => sql`${memberQuery} WHERE ${filter} AND m.user_id = ${id}`
          })(userId)
        })
      ).pipe(Effect.withSpan("MembersRepo.find"))

    /** Adds a user to the context's organization; DuplicateKey when already a member. */
    const add = (input: { readonly userId: UserId; readonly role: Role }) =>
      insertInTenant(sql)(
        Effect.gen(function* () {
          const ctx = yield* RequestContext
          yield* sql`INSERT INTO organization_members (organization_id, user_id, role)
            VALUES (${ctx.organizationId}, ${input.userId}, ${input.role})`
          const filter = yield* Tenant.orgFilter(sql, "m.organization_id")
          return yield* SqlSchema.single({
            Request: UserId,
            Result: Member,
            execute: (id) => sql`${memberQuery} WHERE ${filter} AND m.user_id = ${id}`
          })(input.userId)
        })
      ).pipe(Effect.withSpan("MembersRepo.add"))

    /** Changes a member's role; true when the member exists in the context's organization. */
    const setRole = (userId: UserId, role: Role) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          const rows = yield* sql`UPDATE organization_members SET role = ${role}
            WHERE ${filter} AND user_id = ${userId} RETURNING user_id`
          return rows.length > 0
        })
      ).pipe(Effect.withSpan("MembersRepo.setRole"))

    const remove = (userId: UserId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          const rows = yield* sql`DELETE FROM organization_members
            WHERE ${filter} AND user_id = ${userId} RETURNING user_id`
          return rows.length > 0
        })
      ).pipe(Effect.withSpan("MembersRepo.remove"))

    /** How many owners the organization has (the last owner may not leave or be demoted). */
    const countOwners = scoped(
      Effect.gen(function* () {
        const filter = yield* Tenant.orgFilter(sql)
        const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM organization_members
          WHERE ${filter} AND role = 'owner'`
        return rows[0]?.n ?? 0
      })
    ).pipe(Effect.withSpan("MembersRepo.countOwners"))

    /**
     * The owners of the organization, their rows locked FOR UPDATE (in id order, so two lockers never deadlock)
     * until the caller's transaction ends: a removal or demotion that checks "not the last owner" under this lock
     * cannot interleave with another one.
     */
    const lockOwners = scoped(
      Effect.gen(function* () {
        const filter = yield* Tenant.orgFilter(sql)
        const rows = yield* sql<{ readonly userId: UserId }>`SELECT user_id FROM organization_members
          WHERE ${filter} AND role = 'owner' ORDER BY user_id FOR UPDATE`
        return rows.map((r) => r.userId)
      })
    ).pipe(Effect.withSpan("MembersRepo.lockOwners"))

    return { listPage, find, add, setRole, remove, countOwners, lockOwners } as const
  })
}) {}
