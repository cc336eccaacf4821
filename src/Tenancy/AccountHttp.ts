/**
 * Handlers of the `account` group (session): logout, me, and the user's organizations. A session's context runs
 * under `org_system` (CONTRACTS.md); creating an organization switches to the new one's context so that the
 * organization row, the owner membership and the audit row are written under it, in one transaction.
 */
import { Effect, Option } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { principal } from "../Http/Auth.js"
import { Conflict, Unauthorized } from "../Http/Errors.js"
import { makeId, OrganizationId, RequestContext, type UserId } from "../RequestContext.js"
import { MembersRepo } from "../Sql/MembersRepo.js"
import { OrganizationsRepo } from "../Sql/OrganizationsRepo.js"
import { SessionsRepo } from "../Sql/SessionsRepo.js"
import { UsersRepo } from "../Sql/UsersRepo.js"
import { httpContext } from "./HttpContext.js"
import { clearSessionCookie } from "./SessionCookie.js"
import type { CreateOrgPayload } from "./TenancySchemas.js"

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

const userOrgs = (userId: UserId) =>
  Effect.map(
    Effect.flatMap(OrganizationsRepo, (orgs) => orgs.listForUser(userId)),
    (rows) => rows.map((m) => ({ id: m.organizationId, slug: m.slug, name: m.name, role: m.role }))
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

export const listOrgs = () =>
  Effect.flatMap(session, (s) => Effect.map(userOrgs(s.userId), (organizations) => ({ organizations })))

export const createOrg = ({ payload }: { readonly payload: typeof CreateOrgPayload.Type }) =>
  Effect.gen(function* () {
    const s = yield* session
    const orgs = yield* OrganizationsRepo
    const members = yield* MembersRepo
    const id = OrganizationId.make(makeId("org"))
    const ctx = yield* httpContext({ _tag: "user", userId: s.userId }, id)
    const org = yield* (yield* AuditLog)
      .audited(
        Effect.tap(orgs.insert({ slug: payload.slug, name: payload.name }), () =>
          members.add({ userId: s.userId, role: "owner" })
        ),
        (o) => ({ action: "organization.create", target: { type: "organization", id: o.id }, changes: payload })
      )
      .pipe(
        RequestContext.withContext(ctx),
        Effect.catchTag("Sql/DuplicateKey", () => new Conflict({ message: "this slug is already taken" }))
      )
    return { id: org.id, slug: org.slug, name: org.name, role: "owner" as const }
  }).pipe(Effect.withSpan("Tenancy.createOrg"))
