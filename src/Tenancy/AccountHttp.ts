/**
 * Handlers of the `account` group (session): logout, me, and the user's organizations. A session's context runs
 * under `org_system` (CONTRACTS.md); creating an organization switches to the new one's context so that the
 * organization row, the owner membership and the audit row are written under it, in one transaction.
 */
import { randomBytes } from "node:crypto"
import { Effect, Option } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { principal } from "../Http/Auth.js"
import { Conflict, TooManyRequests, Unauthorized } from "../Http/Errors.js"
import { COUNT_QUOTA_RETRY_AFTER_SECONDS } from "../Limits/Quotas.js"
import { makeId, OrganizationId, RequestContext, type UserId } from "../RequestContext.js"
import { MembersRepo } from "../Sql/MembersRepo.js"
import { OrganizationsRepo } from "../Sql/OrganizationsRepo.js"
import { SessionsRepo } from "../Sql/SessionsRepo.js"
import { UsersRepo } from "../Sql/UsersRepo.js"
import { httpContext } from "./HttpContext.js"
import { clearSessionCookie } from "./SessionCookie.js"
import { TenancyConfig } from "./TenancyConfig.js"
import { type ListQuery, pageOf, pageRequest } from "./ListPage.js"
import { type CreateOrgPayload, type Role, slugFromName } from "./TenancySchemas.js"

const session = Effect.flatMap(principal, (p) =>
  Option.isSome(p) && p.value._tag === "Session"
    ? Effect.succeed(p.value)
    : Effect.fail(new Unauthorized({ message: "this endpoint requires a session" }))
)

export const logout = () =>
  Effect.gen(function* () {
    const s = yield* session
    const sessions = yield* SessionsRepo
    yield* (yield* AuditLog).audited(sessions.revoke(s.sessionId), () => ({
      action: "session.revoke",
      target: { type: "session", id: s.sessionId }
    }))
    yield* clearSessionCookie
  }).pipe(Effect.orDie, Effect.withSpan("Tenancy.logout"))

/** Sign out everywhere: every session of the user is revoked, this one included (its cookie is cleared). */
export const logoutAll = () =>
  Effect.gen(function* () {
    const s = yield* session
    const sessions = yield* SessionsRepo
    yield* (yield* AuditLog).audited(sessions.revokeAllForUser(s.userId), (count) => ({
      action: "session.revoke_all",
      target: { type: "user", id: s.userId },
      changes: { sessions: count }
    }))
    yield* clearSessionCookie
  }).pipe(Effect.orDie, Effect.withSpan("Tenancy.logoutAll"))

const orgView = (m: {
  readonly organizationId: string
  readonly slug: string
  readonly name: string
  readonly role: typeof Role.Type
}) => ({
  id: m.organizationId,
  slug: m.slug,
  name: m.name,
  role: m.role
})

const userOrgs = (userId: UserId) =>
  Effect.map(
    Effect.flatMap(OrganizationsRepo, (orgs) => orgs.listForUser(userId)),
    (rows) => rows.map(orgView)
  )

export const me = () =>
  Effect.gen(function* () {
    const s = yield* session
    const user = yield* (yield* UsersRepo).findById(s.userId)
    if (Option.isNone(user)) return yield* new Unauthorized({ message: "invalid or expired session" })
    return {
      user: { id: user.value.id, email: user.value.email, name: user.value.name },
      organizations: yield* userOrgs(s.userId)
    }
  }).pipe(Effect.withSpan("Tenancy.me"))

export const listOrgs = ({ urlParams }: { readonly urlParams: ListQuery }) =>
  Effect.gen(function* () {
    const s = yield* session
    const request = yield* pageRequest(urlParams)
    const rows = yield* (yield* OrganizationsRepo).listForUserPage(s.userId, request)
    const page = pageOf(rows, request, (m) => m.organizationId)
    return { organizations: page.items.map(orgView), nextCursor: page.nextCursor }
  })

/**
 * Fails with 429 when the user already belongs to the configured number of organizations. Run it inside the
 * transaction that adds the user (creating an organization, accepting an invitation): it takes the user's lock.
 */
export const roomForOneMoreOrganization = (userId: UserId) =>
  Effect.gen(function* () {
    const { maxOrganizationsPerUser } = yield* TenancyConfig
    const n = yield* (yield* OrganizationsRepo).countForUser(userId, { lock: true })
    if (n >= maxOrganizationsPerUser) {
      return yield* new TooManyRequests({
        message: `a user belongs to at most ${maxOrganizationsPerUser} organizations; leave one first`,
        retryAfterSeconds: COUNT_QUOTA_RETRY_AFTER_SECONDS
      })
    }
  })

export const createOrg = ({ payload }: { readonly payload: typeof CreateOrgPayload.Type }) =>
  Effect.gen(function* () {
    const s = yield* session
    const orgs = yield* OrganizationsRepo
    const members = yield* MembersRepo
    const id = OrganizationId.make(makeId("org"))
    const ctx = yield* httpContext({ _tag: "user", userId: s.userId }, id)
    const audit = yield* AuditLog
    const withinLimit = roomForOneMoreOrganization(s.userId)
    const insert = (slug: string) =>
      audit
        .audited(
          Effect.zipRight(
            withinLimit,
            Effect.tap(orgs.insert({ slug, name: payload.name }), () =>
              members.add({ userId: s.userId, role: "owner" })
            )
          ),
          (o) => ({
            action: "organization.create",
            target: { type: "organization", id: o.id },
            changes: { slug, name: payload.name }
          })
        )
        .pipe(RequestContext.withContext(ctx))
    const org = yield* payload.slug !== undefined
      ? insert(payload.slug).pipe(
          Effect.catchTag("Sql/DuplicateKey", () => new Conflict({ message: "this slug is already taken" }))
        )
      : // a slug the client did not choose must not fail on a clash: the second try carries a random suffix
        insert(slugFromName(payload.name)).pipe(
          Effect.catchTag("Sql/DuplicateKey", () => insert(slugFromName(payload.name, randomBytes(3).toString("hex")))),
          Effect.catchTag("Sql/DuplicateKey", () => new Conflict({ message: "this slug is already taken" }))
        )
    return { id: org.id, slug: org.slug, name: org.name, role: "owner" as const }
  }).pipe(Effect.withSpan("Tenancy.createOrg"))
