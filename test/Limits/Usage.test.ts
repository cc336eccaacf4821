import { afterAll, expect, layer } from "@effect/vitest"
import { Clock, Effect, Either, Layer } from "effect"
import { LimitsRedis } from "../../src/Limits/LimitsRedis.js"
import { LogsQuota } from "../../src/Limits/LogsQuota.js"
import { monthOf, secondsToNextMonth } from "../../src/Limits/Month.js"
import { Quotas } from "../../src/Limits/Quotas.js"
import { Usage } from "../../src/Limits/Usage.js"
import { UsageFlush } from "../../src/Limits/UsageFlush.js"
import { Quota, QuotaExceeded } from "../../src/Logs/Quota.js"
import { type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import {
  appConfig,
  captureLogs,
  cleanup,
  configProvider,
  databaseLayer,
  keyContext,
  LimitsServicesLive,
  type Line,
  organizations,
  ownerSql,
  projectOf,
  redisUrl,
  uniquePrefix,
  setLimits
} from "./Support.js"

const prefix = uniquePrefix("usage")
const lines: Array<Line> = []
const env = {
  REDIS_URL: redisUrl(),
  THREADLINE_LIMITS_PREFIX: prefix,
  THREADLINE_QUOTA_RESERVATION_TTL_SECONDS: "2"
}
const Live = LogsQuota.layer.pipe(
  Layer.provideMerge(LimitsServicesLive),
  Layer.provideMerge(databaseLayer("usage")),
  Layer.provide(appConfig(env)),
  Layer.provide(configProvider(env)),
  Layer.provide(captureLogs(lines))
)
afterAll(() => cleanup(prefix))

const org = (name: string) => `org_${name}${prefix.slice(-6)}` as OrganizationId
const as = (o: OrganizationId) => RequestContext.withContext(keyContext(o, "key_usage"))

/**
 * Stores exactly the first `n` entries of batch `batch` as rows of `logs` (service = batch, message = position,
 * metadata.bytes = size), as the owner: the write the logs area would do.
 */
const writeRows = (o: OrganizationId, batch: string, sizes: ReadonlyArray<number>) => (n: number) =>
  Effect.flatMap(ownerSql, (sql) => {
    const positions = Array.from({ length: n }, (_, i) => i)
    return sql`INSERT INTO logs (time, organization_id, project_id, service, level, message, metadata)
      SELECT now(), ${o}, ${projectOf(o)}, ${batch}, 'info', p::text, jsonb_build_object('bytes', b)
      FROM unnest(${positions}::int[], ${sizes.slice(0, n)}::int[]) AS u(p, b)`
  }).pipe(Effect.orDie, Effect.as(n))

const storedRows = (o: OrganizationId) =>
  Effect.flatMap(
    ownerSql,
    (sql) =>
      sql<{ batch: string; n: number; maxpos: number; bytes: number }>`
      SELECT service AS batch, count(*)::int AS n, max(message::int)::int AS maxpos,
        sum((metadata->>'bytes')::int)::int AS bytes
      FROM logs WHERE organization_id = ${o} GROUP BY service`
  ).pipe(Effect.orDie)

const usageRow = (o: OrganizationId) =>
  Effect.flatMap(
    ownerSql,
    (sql) =>
      sql<{ ingest_events: string; ingest_bytes: string; jobs: string }>`
      SELECT ingest_events, ingest_bytes, jobs FROM usage_counters WHERE organization_id = ${o}`
  ).pipe(
    Effect.map((rows) =>
      rows.map((r) => ({ events: Number(r.ingest_events), bytes: Number(r.ingest_bytes), jobs: Number(r.jobs) }))
    ),
    Effect.orDie
  )

layer(Live, { timeout: 60_000, excludeTestServices: true })("Usage and ingestion quota", (it) => {
  it.effect(
    "concurrent batches crossing the quota: accepted up to the remainder exactly, as prefixes, counters exact",
    () =>
      Effect.gen(function* () {
        const o = org("cross")
        yield* setLimits(o, { quotas: { ingestEventsPerMonth: 1000 } })
        const quotas = yield* Quotas
        const sizes = Array.from({ length: 150 }, (_, i) => 100 + (i % 7))
        const results = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, b) => `b${b}`),
          (batch) => Effect.either(quotas.ingest(sizes, writeRows(o, batch, sizes))).pipe(as(o)),
          { concurrency: "unbounded" }
        )
        const granted = results.filter(Either.isRight).map((r) => r.right.grant)
        const refused = results.filter(Either.isLeft).map((r) => r.left)
        expect(granted.reduce((n, g) => n + g.accepted, 0)).toBe(1000)
        // 6 whole batches, 1 cut at the remainder, 5 refused outright
        expect(granted.map((g) => g.accepted).sort((a, b) => a - b)).toEqual([100, 150, 150, 150, 150, 150, 150])
        expect(refused).toHaveLength(5)
        const now = yield* Clock.currentTimeMillis
        for (const e of refused) {
          expect(e).toBeInstanceOf(QuotaExceeded)
          expect(Math.abs(e.retryAfterSeconds - secondsToNextMonth(now))).toBeLessThanOrEqual(60)
        }
        const partial = granted.find((g) => g.accepted === 100)!
        expect(partial.refused).toBe(50)
        expect(partial.retryAfterSeconds).toBeGreaterThan(0)
        expect(partial.acceptedBytes).toBe(sizes.slice(0, 100).reduce((a, b) => a + b, 0))
        expect(
          granted.filter((g) => g.accepted === 150).every((g) => g.refused === 0 && g.retryAfterSeconds === null)
        ).toBe(true)
        // what was stored is exactly the granted prefixes, no more, no less
        const rows = yield* storedRows(o)
        expect(rows.reduce((n, r) => n + r.n, 0)).toBe(1000)
        for (const r of rows) expect(r.maxpos).toBe(r.n - 1)
        const storedBytes = rows.reduce((n, r) => n + r.bytes, 0)
        const usage = yield* (yield* Usage).current(o)
        expect(usage).toEqual({ events: 1000, bytes: storedBytes, jobs: 0 })
        yield* (yield* UsageFlush).flush
        expect(yield* usageRow(o)).toEqual([{ events: 1000, bytes: storedBytes, jobs: 0 }])
        const after = yield* Effect.either(quotas.ingest([10], writeRows(o, "late", [10]))).pipe(as(o))
        expect(Either.isLeft(after) && after.left._tag).toBe("QuotaExceeded")
      })
  )

  it.effect("the bytes quota cuts a batch at the last entry that fits", () =>
    Effect.gen(function* () {
      const o = org("bytes")
      yield* setLimits(o, { quotas: { ingestBytesPerMonth: 1000 } })
      const quotas = yield* Quotas
      const first = yield* quotas.ingest([300, 300, 300, 300], writeRows(o, "one", [300, 300, 300, 300])).pipe(as(o))
      expect(first.grant).toEqual({
        accepted: 3,
        acceptedBytes: 900,
        refused: 1,
        retryAfterSeconds: first.grant.retryAfterSeconds
      })
      const second = yield* quotas.ingest([50, 200, 10], writeRows(o, "two", [50, 200, 10])).pipe(as(o))
      // the prefix stops at the first entry that does not fit, even if a later one would
      expect(second.grant.accepted).toBe(1)
      expect(yield* (yield* Usage).current(o)).toEqual({ events: 4, bytes: 950, jobs: 0 })
    })
  )

  it.effect("a failed write releases its reservation: nothing counted, the room is back", () =>
    Effect.gen(function* () {
      const o = org("fail")
      yield* setLimits(o, { quotas: { ingestEventsPerMonth: 10 } })
      const quotas = yield* Quotas
      const failed = yield* Effect.either(
        quotas.ingest(Array(8).fill(1), () => Effect.fail("disk full" as const))
      ).pipe(as(o))
      expect(failed).toEqual(Either.left("disk full"))
      expect((yield* (yield* Usage).current(o)).events).toBe(0)
      const ok = yield* quotas.ingest(Array(10).fill(1), writeRows(o, "retry", Array(10).fill(1))).pipe(as(o))
      expect(ok.grant.accepted).toBe(10)
    })
  )

  it.effect("a reservation never committed (its process died) is counted as used once its deadline passes", () =>
    Effect.gen(function* () {
      const o = org("dead")
      yield* organizations(o)
      const usage = yield* Usage
      const reservation = yield* usage.reserve([5, 5, 5], { events: 100, bytes: 1000 }).pipe(as(o))
      expect(reservation.events).toBe(3)
      expect((yield* usage.current(o)).events).toBe(0)
      yield* Effect.sleep("2500 millis")
      const report = yield* (yield* UsageFlush).flush
      expect(report.reclaimed).toBeGreaterThanOrEqual(1)
      const warned = lines.find((l) => l.msg === "limits: reservations expired without commit were counted as used")
      expect(warned?.reservations).toContain(reservation.member)
      expect(yield* usage.current(o)).toEqual({ events: 3, bytes: 15, jobs: 0 })
      // a late commit of the same reservation does not count it twice
      yield* usage.commit(reservation)
      expect((yield* usage.current(o)).events).toBe(3)
      // and a late release does not give its room back
      yield* usage.release(reservation)
      expect((yield* usage.current(o)).events).toBe(3)
    })
  )

  it.effect("a Redis that lost its counters is seeded again from the Postgres usage row", () =>
    Effect.gen(function* () {
      const o = org("seed")
      yield* setLimits(o, { quotas: { ingestEventsPerMonth: 50 } })
      const quotas = yield* Quotas
      const usage = yield* Usage
      yield* quotas.ingest(Array(30).fill(2), writeRows(o, "before", Array(30).fill(2))).pipe(as(o))
      yield* (yield* UsageFlush).flush
      const redis = yield* LimitsRedis
      yield* Effect.promise(() => redis.client.del(usage.hashKey(o, monthOf(Date.now()))))
      const next = yield* quotas.ingest(Array(30).fill(2), writeRows(o, "after", Array(30).fill(2))).pipe(as(o))
      expect(next.grant.accepted).toBe(20)
      expect(yield* usage.current(o)).toEqual({ events: 50, bytes: 100, jobs: 0 })
    })
  )

  it.effect("flushing while batches are committed never loses a count", () =>
    Effect.gen(function* () {
      const o = org("race")
      yield* organizations(o)
      const quotas = yield* Quotas
      const flush = (yield* UsageFlush).flush
      const ingestAll = Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => quotas.ingest([1, 2, 3], writeRows(o, `r${i}`, [1, 2, 3])).pipe(as(o)),
        { concurrency: 8, discard: true }
      )
      const flushing = Effect.repeatN(Effect.zipRight(flush, Effect.sleep("5 millis")), 40)
      yield* Effect.all([ingestAll, flushing, flushing], { concurrency: "unbounded", discard: true })
      yield* flush
      expect(yield* usageRow(o)).toEqual([{ events: 600, bytes: 1200, jobs: 0 }])
      const redis = yield* LimitsRedis
      const members = yield* Effect.promise(() => redis.client.smembers(`${prefix}:usage:dirty`))
      expect(members.filter((m) => m.startsWith(o))).toEqual([])
    })
  )

  it.effect("the logs area's Quota writes the prefix the quota allows and counts exactly what was written", () =>
    Effect.gen(function* () {
      const o = org("logsquota")
      yield* setLimits(o, { quotas: { ingestEventsPerMonth: 25 } })
      const quota = yield* Quota
      const written: Array<number> = []
      const write = (n: number) => Effect.sync(() => written.push(n))
      const first = yield* quota
        .ingest(
          Array.from({ length: 20 }, () => 100),
          write
        )
        .pipe(as(o))
      expect(first.grant).toMatchObject({ accepted: 20, acceptedBytes: 2000, refused: 0, retryAfterSeconds: null })
      const second = yield* quota
        .ingest(
          Array.from({ length: 10 }, () => 10),
          write
        )
        .pipe(as(o))
      expect(second.grant).toMatchObject({ accepted: 5, acceptedBytes: 50, refused: 5 })
      expect(second.grant.retryAfterSeconds).toBeGreaterThan(0)
      expect(written).toEqual([20, 5])
      expect(yield* (yield* Usage).current(o)).toEqual({ events: 25, bytes: 2050, jobs: 0 })
      const over = yield* Effect.either(quota.ingest([1], write)).pipe(as(o))
      expect(Either.isLeft(over) && over.left._tag).toBe("QuotaExceeded")
      expect(written).toEqual([20, 5])
    })
  )

  it.effect("a write that fails through the logs area's Quota gives its reservation back", () =>
    Effect.gen(function* () {
      const o = org("logsquotafail")
      yield* setLimits(o, { quotas: { ingestEventsPerMonth: 10 } })
      const quota = yield* Quota
      const failed = yield* Effect.either(
        quota.ingest(
          Array.from({ length: 8 }, () => 3),
          () => Effect.fail("disk full" as const)
        )
      ).pipe(as(o))
      expect(Either.isLeft(failed) && failed.left).toBe("disk full")
      expect(yield* (yield* Usage).current(o)).toEqual({ events: 0, bytes: 0, jobs: 0 })
      const ok = yield* quota
        .ingest(
          Array.from({ length: 12 }, () => 3),
          (n) => Effect.succeed(n)
        )
        .pipe(as(o))
      expect(ok.result).toBe(10)
      expect(yield* (yield* Usage).current(o)).toEqual({ events: 10, bytes: 30, jobs: 0 })
    })
  )
})
