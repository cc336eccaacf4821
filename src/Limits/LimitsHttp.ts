/**
 * Handlers of the `limits` group. Reading needs the owner or admin role in the organization (OrgAccess: 404 for
 * non-members, 403 for members). Changing needs a platform administrator: the check comes first and answers 403
 * to everyone else, member or not, so it reveals nothing about the organization; an administrator need not be a
 * member. The change and its audit row (`limits.updated`, under the organization's context, actor the
 * administrator) commit together.
 */
import { Effect, Option } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { principal } from "../Http/Auth.js"
import { Forbidden, NotFound } from "../Http/Errors.js"
import { OrgAccess } from "../Http/OrgAccess.js"
import { recordContext } from "../Http/RequestState.js"
import { type OrganizationId, RequestContext } from "../RequestContext.js"
import { Tenant } from "../Sql/Tenant.js"
import { UsersRepo } from "../Sql/UsersRepo.js"
import type { EffectiveLimits, LimitsDocument, OverridesPatch } from "./LimitsDocument.js"
import { OrganizationLimits } from "./OrganizationLimits.js"
import { Quotas } from "./Quotas.js"
import { ResourceCounts } from "./ResourceCounts.js"
import { Usage } from "./Usage.js"

/** The document for `organizationId`, read under the current context (that organization's). */
const documentOf = (organizationId: OrganizationId, limits: EffectiveLimits) =>
  Effect.gen(function* () {
    const used = yield* (yield* Usage).current(organizationId)
    const quotas = yield* Quotas
    const counts = yield* ResourceCounts
    const [storage, alertRules, apiKeys] = yield* Effect.all(
      [quotas.storageUsed(organizationId), counts.count("alertRules"), counts.count("apiKeys")],
      { concurrency: "unbounded" }
    )
    return {
      rateLimit: limits.rateLimit,
      quotas: limits.quotas,
      usage: {
        ingestEventsThisMonth: used.events,
        ingestBytesThisMonth: used.bytes,
        storageBytes: storage,
        alertRules,
        apiKeys,
        jobsThisMonth: used.jobs
      }
    } satisfies LimitsDocument
  })

export const getLimits = ({ path }: { readonly path: { readonly org: string } }) =>
  OrgAccess.run(path.org, "admin", (access) =>
    Effect.flatMap(OrganizationLimits, (limits) => limits.of(access.organization.id)).pipe(
      Effect.flatMap((limits) => documentOf(access.organization.id, limits))
    )
  )

/** Whether the session's user has the platform-administrator flag (set only by `threadline admin grant`). */
const isPlatformAdmin = Effect.gen(function* () {
  const who = yield* principal
  if (Option.isNone(who) || who.value._tag !== "Session") return false
  return yield* (yield* UsersRepo).isPlatformAdmin(who.value.userId)
})

export const putLimits = ({
  path,
  payload
}: {
  readonly path: { readonly org: string }
  readonly payload: OverridesPatch
}) =>
  Effect.gen(function* () {
    if (!(yield* isPlatformAdmin)) {
      return yield* new Forbidden({ message: "only platform administrators change an organization's limits" })
    }
    const org = yield* Effect.flatMap(OrgAccess, (access) => access.find(path.org))
    if (Option.isNone(org)) return yield* new NotFound({ message: "organization not found" })
    const organizationId = org.value.id
    const ctx = { ...(yield* RequestContext), organizationId, projectId: null }
    yield* recordContext(ctx)
    return yield* Effect.gen(function* () {
      const limits = yield* OrganizationLimits
      const { after } = yield* Tenant.transaction(
        // a store failure is a dependency failure (its cause is the SqlError): 503 through the error pipeline
        Effect.tap(Effect.catchTag(limits.put(organizationId, payload), "LimitsStoreError", Effect.die), (change) =>
          Effect.flatMap(AuditLog, (audit) =>
            audit.record({
              action: "limits.updated",
              target: { type: "organization", id: organizationId },
              changes: { patch: payload, before: change.before, after: change.after }
            })
          )
        )
      ).pipe(Effect.ensuring(limits.forget(organizationId)))
      return yield* documentOf(organizationId, after)
    }).pipe(RequestContext.withContext(ctx))
  })
