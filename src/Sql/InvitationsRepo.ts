/**
 * Invitations to the context's organization (tenant data). Only the token's SHA-256 is stored. `findByTokenHash`
 * is the pre-tenant lookup (SECURITY DEFINER `threadline_invitation_by_token`): it tells which organization a
 * token belongs to, so that accepting runs in that organization's tenant transaction (`lockForAccept`, `markAccepted`).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { OrganizationId, RequestContext, UserId } from "../RequestContext.js"
import { after, CursorAt, cursorAt, type KeysetPage } from "./Keyset.js"
import { Role } from "./OrganizationsRepo.js"
import { inTenant, insertInTenant, plain } from "./RepoSupport.js"
import { Tenant } from "./Tenant.js"
import { normalizeEmail } from "./UsersRepo.js"

export const Invitation = Schema.Struct({
  id: Schema.String,
  email: Schema.String,
  role: Role,
  createdAt: Schema.DateFromSelf,
  expiresAt: Schema.DateFromSelf
})
export type Invitation = typeof Invitation.Type

/** An invitation's state as read under its row lock; `expired` is decided by the database clock. */
export const InvitationState = Schema.Struct({
  ...Invitation.fields,
  acceptedAt: Schema.NullOr(Schema.DateFromSelf),
  revokedAt: Schema.NullOr(Schema.DateFromSelf),
  expired: Schema.Boolean,
  /** null once the creator's account is gone (ON DELETE SET NULL) */
  createdBy: Schema.NullOr(UserId)
})
export type InvitationState = typeof InvitationState.Type

export interface NewInvitation {
  readonly id: string
  readonly email: string
  readonly role: Role
  readonly tokenHash: string
  readonly createdBy: UserId | null
  readonly expiresAt: Date
}

/** The reason the purge's bypass is audited with. */
export const PURGE_BYPASS_REASON = "invitations.purge"
/** Finished (accepted, revoked, expired) invitations are kept this many days, then purged. */
export const PURGE_AFTER_DAYS = 30

const COLUMNS = "id, email, role, created_at, expires_at"
const PENDING = "accepted_at IS NULL AND revoked_at IS NULL"

export class InvitationsRepo extends Effect.Service<InvitationsRepo>()("Sql/InvitationsRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)
    const columns = sql.literal(COLUMNS)
    const pending = sql.literal(PENDING)

    /** The email is stored normalized; DuplicateKey only on a (practically impossible) token hash collision. */
    const insert = (input: NewInvitation) =>
      insertInTenant(sql)(
        Effect.gen(function* () {
          const ctx = yield* RequestContext
          return yield* SqlSchema.single({
            Request: Schema.Void,
            Result: Invitation,
            execute: () => sql`INSERT INTO organization_invitations
                (id, organization_id, email, role, token_hash, created_by, expires_at)
              VALUES (${input.id}, ${ctx.organizationId}, ${normalizeEmail(input.email)}, ${input.role},
                ${input.tokenHash}, ${input.createdBy}, ${input.expiresAt})
              RETURNING ${columns}`
          })(undefined)
        })
      ).pipe(Effect.withSpan("InvitationsRepo.insert"))

    /** One keyset page (Keyset.ts) of the pending invitations: not accepted, not revoked, not expired. */
    const listPendingPage = (page: KeysetPage) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findAll({
            Request: Schema.Void,
            Result: Schema.Struct({ ...Invitation.fields, cursorAt: CursorAt }),
            execute: () => sql`SELECT ${columns}, ${cursorAt(sql, "created_at")} FROM organization_invitations
              WHERE ${filter} AND ${pending} AND expires_at > now()
              AND ${after(sql, page, "created_at", "id")}
              ORDER BY created_at, id LIMIT ${page.limit}`
          })(undefined)
        })
      ).pipe(Effect.withSpan("InvitationsRepo.listPendingPage"))

    /** Revokes an invitation not yet accepted or revoked; the invitation, or none. */
    const revoke = (id: string) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findOne({
            Request: Schema.String,
            Result: Invitation,
            execute: (i) => sql`UPDATE organization_invitations SET revoked_at = now()
              WHERE ${filter} AND id = ${i} AND ${pending} RETURNING ${columns}`
          })(id)
        })
      ).pipe(Effect.withSpan("InvitationsRepo.revoke"))

    /** Revokes every pending invitation `userId` created (they leave the organization); the invitations revoked. */
    const revokeCreatedBy = (userId: UserId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findAll({
            Request: UserId,
            Result: Invitation,
            execute: (u) => sql`UPDATE organization_invitations SET revoked_at = now()
              WHERE ${filter} AND created_by = ${u} AND ${pending} RETURNING ${columns}`
          })(userId)
        })
      ).pipe(Effect.withSpan("InvitationsRepo.revokeCreatedBy"))

    /**
     * What the creation limits read, under a transaction-scoped lock per organization (concurrent creations of one
     * organization queue here): its pending invitations, those created in the last hour, and the seconds until the
     * oldest of the latter leaves that hour.
     */
    const creationCounts = scoped(
      Effect.gen(function* () {
        const ctx = yield* RequestContext
        const filter = yield* Tenant.orgFilter(sql)
        yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`invitations:${ctx.organizationId}`}))`
        const rows = yield* sql<{ pending: number; lastHour: number; freeInSeconds: number }>`SELECT
            count(*) FILTER (WHERE ${pending} AND expires_at > now())::int AS pending,
            count(*) FILTER (WHERE created_at > now() - interval '1 hour')::int AS last_hour,
            COALESCE(ceil(extract(epoch FROM min(created_at) FILTER (WHERE created_at > now() - interval '1 hour')
              + interval '1 hour' - now())), 1)::int AS free_in_seconds
          FROM organization_invitations WHERE ${filter}`
        return rows[0] ?? { pending: 0, lastHour: 0, freeInSeconds: 1 }
      })
    ).pipe(Effect.withSpan("InvitationsRepo.creationCounts"))

    /**
     * SYSTEM: deletes, in every organization, the invitations accepted, revoked or expired more than `days` ago
     * (through the audited owner bypass); how many. For the periodic maintenance job.
     */
    const purgeFinished = (days: number) =>
      Tenant.bypass(
        PURGE_BYPASS_REASON,
        Effect.map(
          sql<{ n: number }>`WITH gone AS (DELETE FROM organization_invitations
              WHERE COALESCE(accepted_at, revoked_at, expires_at) < now() - make_interval(days => ${days})
                AND (accepted_at IS NOT NULL OR revoked_at IS NOT NULL OR expires_at < now())
              RETURNING 1)
            SELECT count(*)::int AS n FROM gone`,
          (rows) => rows[0]?.n ?? 0
        )
      ).pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.withSpan("InvitationsRepo.purgeFinished"))

    /** PRE-TENANT: the invitation and organization a token hash belongs to, whatever its state. */
    const findByTokenHash = (tokenHash: string) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.String,
          Result: Schema.Struct({ id: Schema.String, organizationId: OrganizationId }),
          execute: (h) => sql`SELECT id, organization_id FROM threadline_invitation_by_token(${h})`
        })(tokenHash)
      ).pipe(Effect.withSpan("InvitationsRepo.findByTokenHash"))

    /**
     * The invitation, locked for the rest of the caller's tenant transaction (FOR UPDATE): a concurrent accept of
     * the same token waits, then reads it accepted.
     */
    const lockForAccept = (id: string) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          return yield* SqlSchema.findOne({
            Request: Schema.String,
            Result: InvitationState,
            execute: (i) => sql`SELECT ${columns}, accepted_at, revoked_at, expires_at <= now() AS expired, created_by
              FROM organization_invitations WHERE ${filter} AND id = ${i} FOR UPDATE`
          })(id)
        })
      ).pipe(Effect.withSpan("InvitationsRepo.lockForAccept"))

    /** Marks a pending invitation accepted by `userId`; false when it was not pending. */
    const markAccepted = (id: string, userId: UserId) =>
      scoped(
        Effect.gen(function* () {
          const filter = yield* Tenant.orgFilter(sql)
          const rows = yield* sql`UPDATE organization_invitations SET accepted_at = now(), accepted_by = ${userId}
            WHERE ${filter} AND id = ${id} AND ${pending} AND expires_at > now() RETURNING id`
          return rows.length > 0
        })
      ).pipe(Effect.withSpan("InvitationsRepo.markAccepted"))

    return {
      insert,
      listPendingPage,
      revoke,
      revokeCreatedBy,
      creationCounts,
      purgeFinished,
      findByTokenHash,
      lockForAccept,
      markAccepted
    } as const
  })
}) {}
