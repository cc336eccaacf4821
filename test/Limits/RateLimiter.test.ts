import { afterAll, expect, layer } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option } from "effect"
import { LimitsRedis } from "../../src/Limits/LimitsRedis.js"
import { OrganizationLimits } from "../../src/Limits/OrganizationLimits.js"
import { OverridesStoreLive } from "../../src/Limits/LimitsStorage.js"
import { RateLimited, rateLimitedHeaders, rateLimitHeaders, RateLimiter } from "../../src/Limits/RateLimiter.js"
import { type OrganizationId, RequestContext, type RequestContextData } from "../../src/RequestContext.js"
import {
  appConfig,
  cleanup,
  configProvider,
  databaseLayer,
  keyContext,
  organizations,
  ownerSql,
  redisUrl,
  uniquePrefix,
  userContext,
  setLimits
} from "./Support.js"

const prefix = uniquePrefix("rl")
const env = {
  REDIS_URL: redisUrl(),
  THREADLINE_LIMITS_PREFIX: prefix,
  THREADLINE_RATE_LIMIT_ORG_PER_MINUTE: "100",
  THREADLINE_RATE_LIMIT_KEY_PER_MINUTE: "1000"
}
/** One limiter stack: its own LimitsRedis connection, limits cache and limiter objects. */
const Stack = Layer.mergeAll(RateLimiter.Default, OrganizationLimits.Default, LimitsRedis.Default)
const Live = Stack.pipe(
  Layer.provideMerge(OverridesStoreLive),
  Layer.provideMerge(databaseLayer("rl")),
  Layer.provide(appConfig(env)),
  Layer.provide(configProvider(env))
)

afterAll(() => cleanup(prefix))

const org = (name: string) => `org_${name}${prefix.slice(-6)}` as OrganizationId

/** One check under `ctx`: Right(decision) when allowed, Left(RateLimited) when refused. */
const check = (ctx: RequestContextData) =>
  Effect.flatMap(RateLimiter, (rl) => Effect.either(rl.check)).pipe(RequestContext.withContext(ctx))

const tally = (results: ReadonlyArray<Either.Either<unknown, RateLimited>>) => ({
  allowed: results.filter(Either.isRight).length,
  refused: results.filter(Either.isLeft).length
})

layer(Live, { timeout: 60_000, excludeTestServices: true })("RateLimiter on a shared Redis", (it) => {
  it.effect("org A floods while org B sends at a normal rate, concurrently: A gets 429s, B none", () =>
    Effect.gen(function* () {
      const a = org("flood")
      const b = org("calm")
      const flood = Effect.forEach(
        Array.from({ length: 400 }, (_, i) => keyContext(a, `key_a${i % 5}`)),
        (ctx) => check(ctx),
        { concurrency: 25 }
      )
      const calm = Effect.forEach(
        Array.from({ length: 50 }, () => keyContext(b, "key_b")),
        (ctx) => Effect.zipLeft(check(ctx), Effect.sleep("10 millis")),
        { concurrency: 1 }
      )
      const [floodResults, calmResults] = yield* Effect.all([flood, calm], { concurrency: 2 })
      expect(tally(floodResults)).toEqual({ allowed: 100, refused: 300 })
      expect(tally(calmResults)).toEqual({ allowed: 50, refused: 0 })
      const refusals = floodResults.filter(Either.isLeft).map((r) => r.left)
      expect(new Set(refusals.map((e) => e.scope))).toEqual(new Set(["organization"]))
      for (const e of refusals) {
        expect(e.limit).toBe(100)
        expect(e.retryAfterSeconds).toBeGreaterThanOrEqual(1)
        expect(e.retryAfterSeconds).toBeLessThanOrEqual(60)
      }
      const remaining = calmResults.map((r) => (Either.isRight(r) ? Option.getOrThrow(r.right).remaining : -1))
      expect(remaining).toEqual(Array.from({ length: 50 }, (_, i) => 99 - i))
    })
  )

  it.effect("an API key's limit applies per key, inside its organization's", () =>
    Effect.gen(function* () {
      const c = org("keys")
      yield* setLimits(c, { rateLimit: { requestsPerMinute: 1000, apiKeyRequestsPerMinute: 10 } })
      const one = yield* Effect.forEach(Array.from({ length: 25 }), () => check(keyContext(c, "key_one")))
      const two = yield* Effect.forEach(Array.from({ length: 5 }), () => check(keyContext(c, "key_two")))
      expect(tally(one)).toEqual({ allowed: 10, refused: 15 })
      expect(tally(two)).toEqual({ allowed: 5, refused: 0 })
      const refused = one.find(Either.isLeft)!.left
      expect(refused.scope).toBe("apiKey")
      const lastTwo = two[4]!
      // the tighter of the two buckets is reported: the key's (10 - 5 = 5 left) over the org's (1000 - 30)
      expect(Either.isRight(lastTwo) && Option.getOrThrow(lastTwo.right)).toMatchObject({
        scope: "apiKey",
        limit: 10,
        remaining: 5
      })
    })
  )

  it.effect(
    "overrides come from organization_limits; a changed override applies to the running window; null restores",
    () =>
      Effect.gen(function* () {
        const d = org("override")
        const limits = yield* OrganizationLimits
        yield* setLimits(d, { rateLimit: { requestsPerMinute: 5 } })
        const sql = yield* ownerSql
        const [row] = yield* sql<{ requests_per_minute: number; api_keys: number | null; updated_by: string }>`
        SELECT requests_per_minute, api_keys, updated_by FROM organization_limits WHERE organization_id = ${d}`
        expect(row).toEqual({ requests_per_minute: 5, api_keys: null, updated_by: "usr_platformadmin" })
        const results = yield* Effect.forEach(Array.from({ length: 10 }), () => check(userContext(d, "usr_owner")))
        expect(tally(results)).toEqual({ allowed: 5, refused: 5 })
        const refused = results[5]
        if (refused === undefined || Either.isRight(refused)) throw new Error("sixth request should be refused")
        const headers = rateLimitedHeaders(refused.left)
        expect(headers["RateLimit-Limit"]).toBe("5")
        expect(headers["RateLimit-Remaining"]).toBe("0")
        expect(Number(headers["Retry-After"])).toBeGreaterThanOrEqual(1)
        expect(headers["Retry-After"]).toBe(headers["RateLimit-Reset"])
        yield* setLimits(d, { rateLimit: { requestsPerMinute: null } })
        expect((yield* limits.of(d)).rateLimit.requestsPerMinute).toBe(100)
        const after = yield* check(userContext(d, "usr_owner"))
        // 6 hits reached Redis before the key was blocked in memory; the 7th continues the same window
        expect(Either.isRight(after) && Option.getOrThrow(after.right).remaining).toBe(93)
        const decision = Either.getOrThrow(after)
        expect(rateLimitHeaders(Option.getOrThrow(decision))).toEqual({
          "RateLimit-Limit": "100",
          "RateLimit-Remaining": "93",
          "RateLimit-Reset": String(Option.getOrThrow(decision).resetSeconds)
        })
      })
  )

  it.effect("concurrent PUTs of different fields both take effect; absent fields are left, null restores", () =>
    Effect.gen(function* () {
      const p = org("puts")
      yield* Effect.all(
        [
          setLimits(p, { rateLimit: { requestsPerMinute: 7 } }),
          setLimits(p, { rateLimit: { apiKeyRequestsPerMinute: 8 } }),
          setLimits(p, { quotas: { apiKeys: 9, alertRules: 0 } })
        ],
        { concurrency: "unbounded" }
      )
      const after = yield* setLimits(p, { quotas: { alertRules: null } })
      expect(after.rateLimit).toEqual({ requestsPerMinute: 7, apiKeyRequestsPerMinute: 8 })
      expect(after.quotas).toMatchObject({ apiKeys: 9, alertRules: 100 })
      const fresh = yield* Layer.build(
        Layer.fresh(OrganizationLimits.Default).pipe(
          Layer.provide(OverridesStoreLive),
          Layer.provide(configProvider(env))
        )
      )
      expect(yield* Context.get(fresh, OrganizationLimits).of(p)).toEqual(after)
    }).pipe(Effect.scoped)
  )

  it.effect("a PUT reports the limits it replaced as stored (not a stale cache) and drops the cached entry", () =>
    Effect.gen(function* () {
      const o = org("before")
      const limits = yield* OrganizationLimits
      const sql = yield* ownerSql
      yield* organizations(o)
      // cached: the defaults
      expect((yield* limits.of(o)).quotas.apiKeys).toBe(50)
      // another process changes the override behind this one's cache
      yield* sql`INSERT INTO organization_limits (organization_id, api_keys) VALUES (${o}, 7)`
      const change = yield* limits
        .put(o, { quotas: { alertRules: 5 } })
        .pipe(RequestContext.withContext(userContext(o, "usr_platformadmin")))
      expect(change.before.quotas).toMatchObject({ apiKeys: 7, alertRules: 100 })
      expect(change.after.quotas).toMatchObject({ apiKeys: 7, alertRules: 5 })
      expect((yield* limits.of(o)).quotas).toMatchObject({ apiKeys: 7, alertRules: 5 })
    })
  )

  it.effect("session requests without an organization count per user; system work is not limited", () =>
    Effect.gen(function* () {
      const system = "org_system" as OrganizationId
      yield* setLimits(system, { rateLimit: { requestsPerMinute: 3 } })
      const u1 = yield* Effect.forEach(Array.from({ length: 5 }), () =>
        check(userContext(system, `usr_a${prefix.slice(-6)}`))
      )
      const u2 = yield* Effect.forEach(Array.from({ length: 3 }), () =>
        check(userContext(system, `usr_b${prefix.slice(-6)}`))
      )
      expect(tally(u1)).toEqual({ allowed: 3, refused: 2 })
      expect(tally(u2)).toEqual({ allowed: 3, refused: 0 })
      expect(u1.find(Either.isLeft)?.left.scope).toBe("user")
      yield* setLimits(system, { rateLimit: { requestsPerMinute: null } })
      const sys = yield* check(RequestContext.system("tick", { organizationId: org("override") }))
      expect(sys).toEqual(Either.right(Option.none()))
    })
  )

  it.scoped("two limiter instances on separate Redis connections share one limit exactly", () =>
    Effect.gen(function* () {
      const e = org("shared")
      yield* setLimits(e, { rateLimit: { requestsPerMinute: 50 } })
      const other = yield* Layer.build(
        Layer.fresh(Stack).pipe(
          Layer.provide(OverridesStoreLive),
          Layer.provide(appConfig(env)),
          Layer.provide(configProvider(env))
        )
      )
      expect(Context.get(other, LimitsRedis).client).not.toBe((yield* LimitsRedis).client)
      const first = yield* RateLimiter
      const second = Context.get(other, RateLimiter)
      const run = (rl: typeof first) =>
        Effect.forEach(
          Array.from({ length: 60 }, (_, i) => keyContext(e, `key_e${i % 3}`)),
          (ctx) => Effect.either(rl.check).pipe(RequestContext.withContext(ctx)),
          { concurrency: 10 }
        )
      const [r1, r2] = yield* Effect.all([run(first), run(second)], { concurrency: 2 })
      expect(tally(r1).allowed + tally(r2).allowed).toBe(50)
      expect(tally(r1).refused + tally(r2).refused).toBe(70)
    })
  )
})
