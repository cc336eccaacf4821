/**
 * What happens when Redis is unreachable (src/Limits/README.md), against a private redis-server this file starts,
 * stops and restarts: rate limits fall back to a per-instance share in memory, quotas to Postgres plus a local backlog
 * that is replayed exactly once Redis answers again. Each outage is logged once and counted per failed operation.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Either, Layer, Metric, Option, Schedule } from "effect"
import { LimitsRedis, redisFailures } from "../../src/Limits/LimitsRedis.js"
import { monthOf } from "../../src/Limits/Month.js"
import { Quotas } from "../../src/Limits/Quotas.js"
import { RateLimiter } from "../../src/Limits/RateLimiter.js"
import { Usage } from "../../src/Limits/Usage.js"
import { UsageFlush } from "../../src/Limits/UsageFlush.js"
import { type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import {
  appConfig,
  captureLogs,
  configProvider,
  databaseLayer,
  freePort,
  keyContext,
  LimitsServicesLive,
  type Line,
  ownerSql,
  startRedis,
  stopRedis,
  userContext,
  setLimits
} from "./Support.js"

/** A redis-server child of this test on its own port, which the tests stop and start again (empty). */
class PrivateRedis extends Effect.Service<PrivateRedis>()("test/PrivateRedis", {
  scoped: Effect.gen(function* () {
    const port = yield* Effect.promise(freePort)
    let child = yield* startRedis(port)
    yield* Effect.addFinalizer(() => Effect.suspend(() => stopRedis(child)))
    return {
      url: `redis://127.0.0.1:${port}`,
      stop: Effect.suspend(() => stopRedis(child)),
      start: Effect.map(
        Effect.suspend(() => startRedis(port)),
        (c) => void (child = c)
      )
    } as const
  })
}) {}

const lines: Array<Line> = []
const env = {
  THREADLINE_LIMITS_PREFIX: "down",
  THREADLINE_RATE_LIMIT_ORG_PER_MINUTE: "10",
  THREADLINE_RATE_LIMIT_INSTANCES: "2"
}
const Config = Layer.unwrapEffect(
  Effect.map(PrivateRedis, (redis) => {
    const all = { ...env, REDIS_URL: redis.url }
    return Layer.merge(appConfig(all), configProvider(all))
  })
)
const Live = LimitsServicesLive.pipe(
  Layer.provideMerge(databaseLayer("down")),
  Layer.provide(Config),
  Layer.provideMerge(PrivateRedis.Default),
  Layer.provide(captureLogs(lines))
)

const unreachable = "limits: Redis unreachable; limits run degraded (src/Limits/README.md)"
const reachable = "limits: Redis reachable again; shared limits resume"
const count = (msg: string) => lines.filter((l) => l.msg === msg).length
const failures = (operation: string) =>
  Effect.map(Metric.value(Metric.tagged(redisFailures, "operation", operation)), (s) => s.count)

const org = (name: string) => `org_down${name}` as OrganizationId

layer(Live, { timeout: 90_000, excludeTestServices: true })("limits while Redis is unreachable", (it) => {
  it.effect(
    "rate limits fall back to a per-instance share, logged once and counted; shared again once Redis is back",
    () =>
      Effect.gen(function* () {
        const redis = yield* PrivateRedis
        const limiter = yield* RateLimiter
        const ctx = () => userContext(org("rl"), "usr_rl")
        const check = Effect.suspend(() => Effect.either(limiter.check).pipe(RequestContext.withContext(ctx())))
        const healthy = yield* check
        expect(Either.getOrThrow(healthy)).toEqual(
          Option.some(expect.objectContaining({ degraded: false, limit: 10, remaining: 9 }))
        )
        // an organization over its limit before the outage: blocked in memory until its window ends
        const blocked = Effect.suspend(() =>
          Effect.either(limiter.check).pipe(RequestContext.withContext(userContext(org("blocked"), "usr_bl")))
        )
        yield* Effect.repeatN(blocked, 10)

        yield* redis.stop
        const before = yield* failures("rateLimit.org")
        const during = yield* Effect.forEach(Array.from({ length: 8 }), () => check)
        expect(yield* failures("rateLimit.org")).toBe(before + 8)
        const allowed = during.filter(Either.isRight).map((r) => Option.getOrThrow(r.right))
        expect(allowed.map((d) => [d.degraded, d.limit, d.remaining])).toEqual([
          [true, 5, 4],
          [true, 5, 3],
          [true, 5, 2],
          [true, 5, 1],
          [true, 5, 0]
        ])
        const refused = during.filter(Either.isLeft).map((r) => r.left)
        expect(refused.map((e) => [e._tag, e.limit])).toEqual([
          ["RateLimited", 5],
          ["RateLimited", 5],
          ["RateLimited", 5]
        ])
        expect(count(unreachable)).toBe(1)
        // still refused from memory, which says nothing about Redis: no false "reachable again"
        expect(Either.isLeft(yield* blocked)).toBe(true)
        expect(count(reachable)).toBe(0)

        yield* redis.start
        // ioredis reconnects on its own (retry every ≤ 1 s); the first hit that reaches the new, empty Redis is shared
        const back = yield* check.pipe(
          Effect.flatMap((r) =>
            Either.isRight(r) && Option.getOrThrow(r.right).degraded === false
              ? Effect.succeed(r.right)
              : Effect.fail("degraded")
          ),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("15 seconds")))
        )
        expect(Option.getOrThrow(back)).toMatchObject({ degraded: false, limit: 10, remaining: 9 })
        expect(count(unreachable)).toBe(1)
        expect(count(reachable)).toBe(1)
      })
  )

  it.effect("quotas run on Postgres plus a local backlog, replayed exactly once Redis answers again", () =>
    Effect.gen(function* () {
      const redis = yield* PrivateRedis
      const quotas = yield* Quotas
      const usage = yield* Usage
      const flush = (yield* UsageFlush).flush
      const sql = yield* ownerSql
      const g = org("quota")
      yield* setLimits(g, { quotas: { ingestEventsPerMonth: 100 } })
      const as = RequestContext.withContext(keyContext(g, "key_g"))
      const ingest = (n: number, write: (k: number) => Effect.Effect<number, string> = Effect.succeed) =>
        Effect.either(quotas.ingest(Array(n).fill(1), write)).pipe(as)

      expect(Either.getOrThrow(yield* ingest(40)).grant.accepted).toBe(40)
      yield* flush

      yield* redis.stop
      // a failed write returns its locally granted room
      expect(yield* ingest(10, () => Effect.fail("write failed"))).toEqual(Either.left("write failed"))
      expect(yield* usage.current(g)).toEqual({ events: 40, bytes: 40, jobs: 0 })
      const degraded = Either.getOrThrow(yield* ingest(100))
      expect(degraded.grant).toMatchObject({ accepted: 60, refused: 40 })
      const over = yield* ingest(5)
      expect(Either.isLeft(over) && over.left).toMatchObject({ _tag: "QuotaExceeded" })
      yield* usage.addJobs(2).pipe(as)
      expect(yield* usage.current(g)).toEqual({ events: 100, bytes: 100, jobs: 2 })
      expect(Either.isLeft(yield* Effect.either(flush))).toBe(true)
      expect(yield* usage.backlogSize).toBe(1)

      yield* redis.start
      yield* flush.pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("15 seconds"))))
      expect(yield* usage.backlogSize).toBe(0)
      const limitsRedis = yield* LimitsRedis
      const hash = yield* Effect.promise(() => limitsRedis.client.hgetall(usage.hashKey(g, monthOf(Date.now()))))
      expect(hash).toEqual({ seeded: "1", ev: "100", by: "100", jobs: "2" })
      const rows = yield* sql<{
        ingest_events: string
        jobs: string
      }>`SELECT ingest_events, jobs FROM usage_counters WHERE organization_id = ${g}`
      expect(rows.map((r) => [Number(r.ingest_events), Number(r.jobs)])).toEqual([[100, 2]])
      const after = yield* ingest(1)
      expect(Either.isLeft(after) && after.left).toMatchObject({ _tag: "QuotaExceeded" })
    })
  )
})
