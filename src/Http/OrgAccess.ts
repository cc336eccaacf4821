/**
 * Organization routes (`/api/v1/orgs/{org}/…`): resolve `{org}` by id or slug, check that the session's user is a
 * member with at least the required role, and run the rest of the handler under that organization's
 * RequestContext (the session's own context runs under `org_system`, CONTRACTS.md).
 *
 * - Unknown organization, malformed `{org}`, or not a member: 404, one message for all, so a non-member cannot
 *   tell "exists" from "does not" (API.md: never reveal another tenant's data).
 * - Member without the role (e.g. `member` on an admin action): 403.
 * - API keys are not members of anything: 404 for another organization, 403 for their own.
 * The id/slug → organization lookup goes through a stale-while-revalidate cache (fresh 1 s, served stale up to
 * 10 s); the membership check is never cached, so a removed member loses access at once.
 */
import { Effect, Option } from "effect"
import { OrganizationId, RequestContext, type RequestContextData } from "../RequestContext.js"
import { atLeast, OrgDirectory, type OrganizationRef, type Role } from "./Credentials.js"
import { Forbidden, NotFound } from "./Errors.js"
import { limit, type RateLimited, RequestLimiter } from "./RequestLimiter.js"
import { recordContext } from "./RequestState.js"
import * as SwrCache from "./SwrCache.js"

export interface Access {
  readonly organization: OrganizationRef
  readonly role: Role
  readonly context: RequestContextData
}

export const SLUG_PATTERN = /^[a-z0-9-]{2,48}$/
const isOrgId = (s: string) => /^org_[A-Za-z0-9]{1,60}$/.test(s)

export const CACHE = { freshMs: 1_000, staleMs: 10_000, capacity: 10_000 } as const

const notFound = () => new NotFound({ message: "organization not found" })

export class OrgAccess extends Effect.Service<OrgAccess>()("Http/OrgAccess", {
  scoped: Effect.gen(function* () {
    const directory = yield* OrgDirectory
    const rateLimit = limit(yield* RequestLimiter)
    const orgs = yield* SwrCache.make({
      ...CACHE,
      lookup: (param: string) =>
        directory.findOrganization(isOrgId(param) ? { id: OrganizationId.make(param) } : { slug: param })
    })

    /** The caller's access to `{org}`, at least `minimum`; the context is not switched (see `within`). */
    const check = Effect.fn("OrgAccess.check")(function* (orgParam: string, minimum: Role) {
      const ctx = yield* RequestContext
      if (!isOrgId(orgParam) && !SLUG_PATTERN.test(orgParam)) return yield* notFound()
      const org = yield* orgs.get(orgParam)
      if (Option.isNone(org)) return yield* notFound()
      if (ctx.actor._tag !== "user") {
        return yield* ctx.organizationId === org.value.id
          ? new Forbidden({ message: "API keys cannot manage organizations" })
          : notFound()
      }
      const role = yield* directory.memberRole(org.value.id, ctx.actor.userId)
      if (Option.isNone(role)) return yield* notFound()
      if (!atLeast(role.value, minimum)) {
        return yield* new Forbidden({ message: `this action needs the ${minimum} role` })
      }
      const context: RequestContextData = { ...ctx, organizationId: org.value.id, projectId: null }
      return { organization: org.value, role: role.value, context } satisfies Access
    })

    /** Runs `body` under the organization's context once the caller's access is established. */
    const within =
      (orgParam: string, minimum: Role = "member") =>
      <A, E, R>(
        body: (access: Access) => Effect.Effect<A, E, R>
      ): Effect.Effect<A, E | NotFound | Forbidden | RateLimited, Exclude<R, RequestContext> | RequestContext> =>
        Effect.flatMap(check(orgParam, minimum), (access) =>
          recordContext(access.context).pipe(
            // the organization's bucket (authentication counted the session's user bucket)
            Effect.zipRight(rateLimit(access.context)),
            Effect.zipRight(RequestContext.withContext(access.context)(body(access)))
          )
        )

    /**
     * `{org}` for a caller who is not a member (a platform administrator), through the same cache; None when unknown.
     * Callers must have authorized the caller first: this answers whether an organization exists.
     */
    const find = (orgParam: string) =>
      !isOrgId(orgParam) && !SLUG_PATTERN.test(orgParam) ? Effect.succeedNone : orgs.get(orgParam)

    /** After renaming or deleting an organization, so this instance stops serving the old slug at once. */
    const invalidate = (orgParam: string) => orgs.invalidate(orgParam)

    return { check, within, find, invalidate } as const
  })
}) {
  /** `OrgAccess.run(org, "admin", (access) => …)` from a handler. */
  static readonly run = <A, E, R>(
    orgParam: string,
    minimum: Role,
    body: (access: Access) => Effect.Effect<A, E, R>
  ): Effect.Effect<
    A,
    E | NotFound | Forbidden | RateLimited,
    Exclude<R, RequestContext> | RequestContext | OrgAccess
  > => Effect.flatMap(OrgAccess, (access) => access.within(orgParam, minimum)(body))
}
