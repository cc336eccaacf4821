/**
 * Joining an organization goes through an invitation: an owner or admin creates one for an email and a role and
 * gets a one-time token (stored as SHA-256) and its accept link, shown once; whoever signed in presents the token
 * joins with that role (the account's email does not matter; no account is ever looked up by email). Created,
 * revoked and accepted invitations are audited under the organization, each in the transaction of its change.
 */
import { Effect, Option, Redacted } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { principal } from "../Http/Auth.js"
import { Conflict, Forbidden, NotFound, Unauthorized } from "../Http/Errors.js"
import { OrgAccess } from "../Http/OrgAccess.js"
import { AppConfig } from "../Config.js"
import { makeId, RequestContext } from "../RequestContext.js"
import { type Invitation, InvitationsRepo } from "../Sql/InvitationsRepo.js"
import { MembersRepo } from "../Sql/MembersRepo.js"
import { OrganizationsRepo } from "../Sql/OrganizationsRepo.js"
import { roomForOneMoreOrganization } from "./AccountHttp.js"
import { httpContext } from "./HttpContext.js"
import { InvitationMailer } from "./InvitationMailer.js"
import { type ListQuery, pageOf, pageRequest } from "./ListPage.js"
import type { AcceptInvitationPayload, CreateInvitationPayload } from "./TenancySchemas.js"
import { isWellFormedInvitationToken, mintInvitationToken, sha256Hex } from "./Tokens.js"

type OrgPath = { readonly path: { readonly org: string } }

const invitationView = (i: Invitation) => ({
  id: i.id,
  email: i.email,
  role: i.role,
  createdAt: i.createdAt.toISOString(),
  expiresAt: i.expiresAt.toISOString()
})

const acceptUrlOf = (publicUrl: string, token: string): string =>
  `${publicUrl}/invitations/accept?token=${encodeURIComponent(token)}`

export const createInvitation = ({
  path,
  payload
}: OrgPath & { readonly payload: typeof CreateInvitationPayload.Type }) =>
  OrgAccess.run(path.org, "admin", (access) =>
    Effect.gen(function* () {
      if (payload.role === "owner" && access.role !== "owner") {
        return yield* new Forbidden({ message: "only an owner can invite an owner" })
      }
      const config = yield* AppConfig
      const ctx = yield* RequestContext
      const minted = mintInvitationToken()
      const invitation = yield* (yield* AuditLog)
        .audited(
          (yield* InvitationsRepo).insert({
            id: makeId("inv"),
            email: payload.email,
            role: payload.role,
            tokenHash: minted.hash,
            createdBy: ctx.userId,
            expiresAt: new Date(Date.now() + config.invitationTtlSeconds * 1000)
          }),
          (i) => ({
            action: "invitation.create",
            target: { type: "invitation", id: i.id },
            changes: { email: i.email, role: i.role, expiresAt: i.expiresAt.toISOString() }
          })
        )
        .pipe(Effect.catchTag("Sql/DuplicateKey", Effect.die))
      const token = Redacted.value(minted.token)
      const acceptUrl = acceptUrlOf(config.publicUrl, token)
      const org = yield* (yield* OrganizationsRepo).current
      yield* (yield* InvitationMailer).deliver({
        invitationId: invitation.id,
        to: invitation.email,
        organizationName: Option.match(org, { onNone: () => access.organization.slug, onSome: (o) => o.name }),
        role: invitation.role,
        acceptUrl: Redacted.make(acceptUrl),
        expiresAt: invitation.expiresAt
      })
      return { ...invitationView(invitation), token, acceptUrl }
    })
  )

export const listInvitations = ({ path, urlParams }: OrgPath & { readonly urlParams: ListQuery }) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.gen(function* () {
      const request = yield* pageRequest(urlParams)
      const page = pageOf(yield* (yield* InvitationsRepo).listPendingPage(request), request, (i) => i.id)
      return { invitations: page.items.map(invitationView), nextCursor: page.nextCursor }
    })
  )

export const revokeInvitation = ({
  path
}: {
  readonly path: { readonly org: string; readonly invitationId: string }
}) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.gen(function* () {
      const invitations = yield* InvitationsRepo
      yield* (yield* AuditLog).audited(
        Effect.flatMap(
          /^inv_[A-Za-z0-9]{1,60}$/.test(path.invitationId)
            ? invitations.revoke(path.invitationId)
            : Effect.succeed(Option.none()),
          Option.match({
            onNone: () => Effect.fail(new NotFound({ message: "invitation not found" })),
            onSome: Effect.succeed
          })
        ),
        (i) => ({ action: "invitation.revoke", target: { type: "invitation", id: i.id }, changes: { email: i.email } })
      )
    })
  )

const invalid = () => new NotFound({ message: "invitation not found" })

/**
 * The signed-in user joins the token's organization with the invited role. The token names its organization
 * (pre-tenant lookup); the rest runs in that organization's tenant transaction: the invitation row is locked and
 * checked (accepted, revoked, expired: 409), the membership inserted (already a member: 409, the invitation stays
 * pending), the invitation marked accepted and both audit rows written, all or nothing.
 */
export const acceptInvitation = ({ payload }: { readonly payload: typeof AcceptInvitationPayload.Type }) =>
  Effect.gen(function* () {
    const who = yield* principal
    if (Option.isNone(who) || who.value._tag !== "Session") {
      return yield* new Unauthorized({ message: "this endpoint requires a session" })
    }
    const userId = who.value.userId
    if (!isWellFormedInvitationToken(payload.token)) return yield* invalid()
    const invitations = yield* InvitationsRepo
    const found = yield* invitations.findByTokenHash(sha256Hex(payload.token))
    if (Option.isNone(found)) return yield* invalid()
    const ctx = yield* httpContext({ _tag: "user", userId }, found.value.organizationId)
    const members = yield* MembersRepo
    return yield* (yield* AuditLog)
      .audited(
        Effect.gen(function* () {
          const state = yield* invitations.lockForAccept(found.value.id)
          if (Option.isNone(state)) return yield* invalid()
          const i = state.value
          if (i.acceptedAt !== null) return yield* new Conflict({ message: "this invitation has already been used" })
          if (i.revokedAt !== null) return yield* new Conflict({ message: "this invitation was revoked" })
          if (i.expired) return yield* new Conflict({ message: "this invitation has expired" })
          yield* roomForOneMoreOrganization(userId)
          yield* members
            .add({ userId, role: i.role })
            .pipe(
              Effect.catchTag(
                "Sql/DuplicateKey",
                () => new Conflict({ message: "you are already a member of this organization" })
              )
            )
          if (!(yield* invitations.markAccepted(i.id, userId))) return yield* invalid()
          yield* (yield* AuditLog).record({
            action: "member.add",
            target: { type: "user", id: userId },
            changes: { role: i.role, invitationId: i.id }
          })
          const org = yield* (yield* OrganizationsRepo).current
          if (Option.isNone(org)) return yield* invalid()
          return { invitation: i, org: org.value }
        }),
        ({ invitation }) => ({
          action: "invitation.accept",
          target: { type: "invitation", id: invitation.id },
          changes: { userId, role: invitation.role, email: invitation.email }
        })
      )
      .pipe(
        Effect.map(({ invitation, org }) => ({ id: org.id, slug: org.slug, name: org.name, role: invitation.role })),
        RequestContext.withContext(ctx)
      )
  }).pipe(Effect.withSpan("Tenancy.acceptInvitation"))
