/**
 * Fixed one-minute windows shared by every instance through Redis, with `rate-limiter-flexible` doing the counting
 * (one atomic Lua INCR+PTTL per hit). A limiter object exists per (kind, limit) pair: per-organization overrides give
 * different limits, and the library checks a limit per object while the count lives under the same Redis key, so a
 * changed override applies to the window already running.
 *
 * Once a key is over its limit, the library blocks it in process memory until its window ends
 * (`inMemoryBlockOnConsumed`): a flooding tenant then costs no Redis round trip per request, and because the Redis
 * count was already over, no instance refuses anything the shared count would have allowed.
 *
 * Redis unreachable (README.md): the hit goes to an in-memory limiter of `ceil(limit / THREADLINE_RATE_LIMIT_INSTANCES)`
 * per instance, and the result says `degraded`.
 */
import { Effect } from "effect"
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible"
import { LimitsConfig } from "./LimitsConfig.js"
import { LimitsRedis } from "./LimitsRedis.js"

export interface BucketResult {
  readonly allowed: boolean
  /** The limit this answer was decided against (the per-instance share when degraded). */
  readonly limit: number
  readonly remaining: number
  /** Seconds until the window ends (at least 1). */
  readonly resetSeconds: number
  /** True when Redis could not be used and this instance decided alone. */
  readonly degraded: boolean
}

const WINDOW_SECONDS = 60

type Outcome =
  | { readonly _tag: "Allowed" | "Refused"; readonly res: RateLimiterRes }
  | { readonly _tag: "Failed"; readonly cause: unknown }

/** The library resolves with a result, rejects with a result when over the limit, and rejects with an Error on failure. */
const attempt = (limiter: RateLimiterRedis | RateLimiterMemory, key: string): Promise<Outcome> =>
  limiter.consume(key).then(
    (res): Outcome => ({ _tag: "Allowed", res }),
    (err: unknown): Outcome =>
      err instanceof RateLimiterRes ? { _tag: "Refused", res: err } : { _tag: "Failed", cause: err }
  )

/** One request counted against bucket `kind`/`id` (e.g. "org"/org id) with `points` allowed per minute. */
export interface Hit {
  readonly kind: string
  readonly id: string
  readonly points: number
}

const toResult = (outcome: Outcome & { readonly res: RateLimiterRes }, limit: number, degraded: boolean) => ({
  allowed: outcome._tag === "Allowed",
  limit,
  remaining: outcome._tag === "Allowed" ? outcome.res.remainingPoints : 0,
  resetSeconds: Math.max(1, Math.ceil(outcome.res.msBeforeNext / 1000)),
  degraded
})

export class Buckets extends Effect.Service<Buckets>()("Limits/Buckets", {
  effect: Effect.gen(function* () {
    const redis = yield* LimitsRedis
    const config = yield* LimitsConfig
    const shared = new Map<string, RateLimiterRedis>()
    const local = new Map<string, RateLimiterMemory>()

    const sharedFor = (kind: string, points: number) => {
      const id = `${kind}/${points}`
      let limiter = shared.get(id)
      if (limiter === undefined) {
        limiter = new RateLimiterRedis({
          storeClient: redis.client,
          keyPrefix: `${redis.prefix}:rl:${kind}`,
          points,
          duration: WINDOW_SECONDS,
          inMemoryBlockOnConsumed: points + 1,
          rejectIfRedisNotReady: true
        })
        shared.set(id, limiter)
      }
      return limiter
    }

    const localFor = (kind: string, points: number) => {
      const share = Math.ceil(points / config.instances)
      const id = `${kind}/${share}`
      let limiter = local.get(id)
      if (limiter === undefined) {
        limiter = new RateLimiterMemory({ keyPrefix: kind, points: share, duration: WINDOW_SECONDS })
        local.set(id, limiter)
      }
      return [limiter, share] as const
    }

    const fallback = (hit: Hit, cause: unknown) => {
      const [limiter, share] = localFor(hit.kind, hit.points)
      return Effect.zipRight(
        redis.failed(`rateLimit.${hit.kind}`, cause),
        Effect.flatMap(
          Effect.promise(() => attempt(limiter, hit.id)),
          (outcome) =>
            outcome._tag === "Failed" ? Effect.die(outcome.cause) : Effect.succeed(toResult(outcome, share, true))
        )
      )
    }

    /**
     * Counts one request against each bucket. All buckets go to Redis together from one fiber (one round trip on the
     * connection, no fiber per bucket: forking cost more than the round trip, bench/limits.ts).
     */
    const hitAll = (hits: ReadonlyArray<Hit>): Effect.Effect<ReadonlyArray<BucketResult>> =>
      Effect.flatMap(
        Effect.promise(() => Promise.all(hits.map((h) => attempt(sharedFor(h.kind, h.points), h.id)))),
        (outcomes) => {
          if (outcomes.every((o) => o._tag !== "Failed")) {
            const results = outcomes.map((o, i) => toResult(o, hits[i]!.points, false))
            // a key blocked in memory answers without Redis (consumedPoints 0): that says nothing about Redis
            const reachedRedis = outcomes.some((o) => o.res.consumedPoints > 0)
            return reachedRedis ? Effect.as(redis.succeeded, results) : Effect.succeed(results)
          }
          return Effect.forEach(hits, (h, i) => {
            const o = outcomes[i]!
            return o._tag === "Failed" ? fallback(h, o.cause) : Effect.succeed(toResult(o, h.points, false))
          })
        }
      )

    const hit = (kind: string, id: string, points: number): Effect.Effect<BucketResult> =>
      Effect.map(hitAll([{ kind, id, points }]), (results) => results[0]!)

    return { hit, hitAll } as const
  }),
  dependencies: [LimitsConfig.Default, LimitsRedis.Default]
}) {}
