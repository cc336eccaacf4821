/**
 * The rate-limit step of every authenticated request: after authentication has settled the RequestContext (and again
 * after OrgAccess or a session search has switched it to an organization), the request is counted against the
 * buckets of that context. A port, so the HTTP platform does not depend on how limits are kept: the limits area
 * provides it (src/Limits/LimitsLive.ts) and main.ts wires it into the api role. It is required: forgetting the
 * limits area is a missing service, not an unlimited server; tests of unrelated behaviour provide
 * `RequestLimiter.allowAll`. test/Limits/Http.test.ts serves the api role's real composition to prove the wiring.
 *
 * The answer's `RateLimit-*` headers (and `Retry-After` on a 429) go on the request's answer whatever it ends in.
 */
import { Context, Effect, Layer, Option } from "effect"
import { RateLimited, rateLimitHeaders } from "../Limits/RateLimiter.js"
import { RequestContext, type RequestContextData } from "../RequestContext.js"
import { addHeaders } from "./RequestState.js"

export interface RateLimitInfo {
  readonly limit: number
  readonly remaining: number
  readonly resetSeconds: number
}

export interface RequestLimiterShape {
  /** Counts the current request; None when the context is not limited (system work). */
  readonly check: Effect.Effect<Option.Option<RateLimitInfo>, RateLimited, RequestContext>
}

/**
 * A required service: a process that serves authenticated routes must say how requests are limited. Tests of
 * unrelated behaviour provide `RequestLimiter.allowAll` explicitly.
 */
export class RequestLimiter extends Context.Tag("Http/RequestLimiter")<RequestLimiter, RequestLimiterShape>() {
  /** Limits nothing: for tests that do not exercise limits. */
  static readonly allowAll: Layer.Layer<RequestLimiter> = Layer.succeed(RequestLimiter, { check: Effect.succeedNone })
}

/**
 * Counts the request under `ctx` and records the headers of the answer. Callers take the limiter when their layer
 * is built (`yield* RequestLimiter`), so the one provided to the process is captured once, like any service.
 */
export const limit =
  (limiter: RequestLimiterShape) =>
  (ctx: RequestContextData): Effect.Effect<void, RateLimited> =>
    limiter.check.pipe(
      RequestContext.withContext(ctx),
      Effect.tapBoth({
        // a refusal's Retry-After comes with its error body (ErrorPipeline.ts, from `retryAfterSeconds`)
        onFailure: (e) => addHeaders(rateLimitHeaders(e)),
        onSuccess: (info) => (Option.isSome(info) ? addHeaders(rateLimitHeaders(info.value)) : Effect.void)
      }),
      Effect.asVoid
    )

export { RateLimited }
