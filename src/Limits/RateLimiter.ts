/**
 * Request rate limits per organization and per API key, keyed from the resolved RequestContext (never from headers:
 * a client cannot pick its bucket). A request counts against its organization and, when made with an API key, also
 * against that key; the tighter answer wins. Session requests on routes without an organization (contexts under
 * `org_system`) count per user, so they never share one bucket across all users. System work is not limited here.
 */
import { HttpApiSchema } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { RequestContext, SYSTEM_ORGANIZATION_ID } from "../RequestContext.js"
import { type BucketResult, Buckets, type Hit } from "./Buckets.js"
import { OrganizationLimits } from "./OrganizationLimits.js"

export const RateLimitScope = Schema.Literal("organization", "apiKey", "user")
export type RateLimitScope = typeof RateLimitScope.Type

export class RateLimited extends Schema.TaggedError<RateLimited>()(
  "RateLimited",
  {
    message: Schema.String,
    scope: RateLimitScope,
    limit: Schema.Int,
    remaining: Schema.Int,
    /** Seconds until the window that refused the request ends; also `Retry-After`. */
    resetSeconds: Schema.Int,
    retryAfterSeconds: Schema.Int
  },
  HttpApiSchema.annotations({ status: 429 })
) {}

export interface RateLimitDecision extends BucketResult {
  readonly scope: RateLimitScope
}

/** `RateLimit-*` response headers (draft-ietf-httpapi-ratelimit-headers: Reset is in seconds from now). */
export const rateLimitHeaders = (d: {
  readonly limit: number
  readonly remaining: number
  readonly resetSeconds: number
}): Record<string, string> => ({
  "RateLimit-Limit": String(d.limit),
  "RateLimit-Remaining": String(d.remaining),
  "RateLimit-Reset": String(d.resetSeconds)
})

/** The headers of a refused request: the same three plus `Retry-After`. */
export const rateLimitedHeaders = (e: RateLimited): Record<string, string> => ({
  ...rateLimitHeaders(e),
  "Retry-After": String(e.retryAfterSeconds)
})

const describe: Record<RateLimitScope, string> = {
  organization: "this organization",
  apiKey: "this API key",
  user: "this user"
}

export class RateLimiter extends Effect.Service<RateLimiter>()("Limits/RateLimiter", {
  effect: Effect.gen(function* () {
    const buckets = yield* Buckets
    const limits = yield* OrganizationLimits

    /**
     * Counts the current request. Some(decision) for the response headers; None for system work (not limited).
     * Fails with RateLimited when a bucket is over its limit.
     */
    const check: Effect.Effect<Option.Option<RateLimitDecision>, RateLimited, RequestContext> = Effect.gen(
      function* () {
        const ctx = yield* RequestContext
        if (ctx.actor._tag === "system") return Option.none()
        const { rateLimit } = yield* limits.of(ctx.organizationId)
        const scopes: Array<RateLimitScope> = []
        const hits: Array<Hit> = []
        const add = (scope: RateLimitScope, kind: string, id: string, points: number) => {
          scopes.push(scope)
          hits.push({ kind, id, points })
        }
        if (ctx.organizationId !== SYSTEM_ORGANIZATION_ID) {
          add("organization", "org", ctx.organizationId, rateLimit.requestsPerMinute)
        } else if (ctx.userId !== null) {
          add("user", "user", ctx.userId, rateLimit.requestsPerMinute)
        }
        if (ctx.apiKeyId !== null) add("apiKey", "key", ctx.apiKeyId, rateLimit.apiKeyRequestsPerMinute)
        const results = (yield* buckets.hitAll(hits)).map((r, i): RateLimitDecision => ({ ...r, scope: scopes[i]! }))
        const refused = results.filter((r) => !r.allowed).sort((a, b) => b.resetSeconds - a.resetSeconds)[0]
        if (refused !== undefined) {
          return yield* new RateLimited({
            message: `rate limit of ${refused.limit} requests per minute for ${describe[refused.scope]} exceeded; retry in ${refused.resetSeconds} s`,
            scope: refused.scope,
            limit: refused.limit,
            remaining: 0,
            resetSeconds: refused.resetSeconds,
            retryAfterSeconds: refused.resetSeconds
          })
        }
        return Option.fromNullable(
          results.reduce<RateLimitDecision | undefined>(
            (tightest, r) => (tightest === undefined || r.remaining < tightest.remaining ? r : tightest),
            undefined
          )
        )
      }
    )

    return { check } as const
  }),
  dependencies: [Buckets.Default, OrganizationLimits.Default]
}) {}
