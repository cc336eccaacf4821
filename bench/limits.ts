/**
 * The cost of a limit check next to the Redis round trip it cannot avoid, side by side in one run: plain PING,
 * rate-limiter-flexible's consume alone, Threadline's RateLimiter.check (session: one bucket; API key: organization
 * and key buckets, two round trips in parallel) and a quota reservation + commit for a 100-entry batch. Each case runs
 * N operations one at a time (latency) and N with CONCURRENCY in flight (throughput); rounds alternate the cases and
 * ratios to PING are taken per round, then the median.
 *   DATABASE_URL=postgres://… REDIS_URL=redis://127.0.0.1:6390 npx tsx bench/limits.ts      (BENCH_OPS=5000 default)
 */
import { ConfigProvider, Effect, Layer, Logger, LogLevel } from "effect"
import { Redis } from "ioredis"
import { RateLimiterRedis } from "rate-limiter-flexible"
import { AppConfig } from "../src/Config.js"
import { AuditLog } from "../src/Audit/AuditLog.js"
import { LimitsAuditLive, OverridesStoreLive, ResourceCountsLive } from "../src/Limits/LimitsStorage.js"
import { Quotas } from "../src/Limits/Quotas.js"
import { RateLimiter } from "../src/Limits/RateLimiter.js"
import { type ApiKeyId, type OrganizationId, RequestContext, type UserId } from "../src/RequestContext.js"
import { TestDatabase } from "../test/support/Database.js"
import { failUnlessPositive, sized } from "./smoke.js"

const N = sized("BENCH_OPS", 5_000, 200)
const CONCURRENCY = 50
const ROUNDS = sized(undefined, 3, 1)
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const DATABASE_URL =
  process.env.DATABASE_OWNER_URL ?? process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:55432/postgres"
const PREFIX = `tlbench-limits-${Date.now().toString(36)}`
const ORGS = 100

const env = new Map([
  // a benchmark is development work: production would require a secret key
  ["THREADLINE_ENV", "development"],
  ["REDIS_URL", REDIS_URL],
  ["DATABASE_URL", DATABASE_URL],
  ["THREADLINE_LIMITS_PREFIX", PREFIX],
  ["THREADLINE_RATE_LIMIT_ORG_PER_MINUTE", "1000000000"],
  ["THREADLINE_RATE_LIMIT_KEY_PER_MINUTE", "1000000000"]
])

/** The ports as the application wires them, on a copy of the migrated template (as the app login), dropped at the end. */
const Live = Layer.mergeAll(RateLimiter.Default, Quotas.Default).pipe(
  Layer.provide(Layer.mergeAll(OverridesStoreLive, ResourceCountsLive, LimitsAuditLive)),
  Layer.provide(AuditLog.Default),
  Layer.provide(TestDatabase.layer("bench-limits")),
  Layer.provide(AppConfig.Default),
  Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(env))),
  Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
)

const keyCtx = (i: number) =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "apiKey", apiKeyId: `key_b${i % 500}` as ApiKeyId },
    organizationId: `org_b${i % ORGS}` as OrganizationId
  })
const userCtx = (i: number) =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "user", userId: `usr_b${i % 500}` as UserId },
    organizationId: `org_b${i % ORGS}` as OrganizationId
  })

/** Runs op(0..N-1) with `limit` in flight; returns ms. */
const time = async (limit: number, op: (i: number) => Promise<unknown>): Promise<number> => {
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < N) await op(next++)
    })
  )
  return performance.now() - start
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const program = Effect.gen(function* () {
  const limiter = yield* RateLimiter
  const quotas = yield* Quotas
  const runtime = yield* Effect.runtime<never>()
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.provide(effect, runtime.context))
  // the options of LimitsRedis (fail fast), so PING pays what a limit check's round trip pays
  const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true })
  yield* Effect.promise(() => redis.connect())
  yield* Effect.addFinalizer(() => Effect.promise(() => redis.quit()))
  const library = new RateLimiterRedis({ storeClient: redis, keyPrefix: `${PREFIX}:raw`, points: 1e9, duration: 60 })
  const batch = Array(100).fill(200)

  const cases: Record<string, (i: number) => Promise<unknown>> = {
    PING: () => redis.ping(),
    "rate-limiter-flexible consume": (i) => library.consume(`org_b${i % ORGS}`),
    "PING as an Effect run per op (the floor of any Effect check)": () => run(Effect.promise(() => redis.ping())),
    "RateLimiter.check, session (1 bucket)": (i) => run(limiter.check.pipe(RequestContext.withContext(userCtx(i)))),
    "RateLimiter.check, API key (2 buckets)": (i) => run(limiter.check.pipe(RequestContext.withContext(keyCtx(i)))),
    "Quotas.ingest 100 entries (reserve+commit)": (i) =>
      run(quotas.ingest(batch, Effect.succeed).pipe(RequestContext.withContext(keyCtx(i))))
  }
  // warm-up: JIT, scripts loaded, usage hashes seeded, limits cached
  for (const op of Object.values(cases)) yield* Effect.promise(() => time(CONCURRENCY, op))

  const results: Record<string, { seq: Array<number>; conc: Array<number> }> = {}
  for (const name of Object.keys(cases)) results[name] = { seq: [], conc: [] }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, op] of Object.entries(cases)) {
      results[name]!.seq.push(yield* Effect.promise(() => time(1, op)))
      results[name]!.conc.push(yield* Effect.promise(() => time(CONCURRENCY, op)))
    }
  }
  for (const [name, r] of Object.entries(results)) for (const t of [...r.seq, ...r.conc]) failUnlessPositive(t, name)
  const ping = results.PING!
  console.log(`${N} ops per case, ${ROUNDS} rounds, medians; ratio = time / PING time in the same round`)
  console.log("case | µs/op one at a time | ratio | ops/s at 50 in flight | ratio")
  for (const [name, r] of Object.entries(results)) {
    const seqRatio = median(r.seq.map((t, i) => t / ping.seq[i]!))
    const concRatio = median(r.conc.map((t, i) => t / ping.conc[i]!))
    console.log(
      `${name} | ${((median(r.seq) / N) * 1000).toFixed(1)} | ${seqRatio.toFixed(2)} | ` +
        `${Math.round((N / median(r.conc)) * 1000)} | ${concRatio.toFixed(2)}`
    )
  }
  let cursor = "0"
  do {
    const [next, keys] = yield* Effect.promise(() => redis.scan(cursor, "MATCH", `${PREFIX}:*`, "COUNT", 1000))
    if (keys.length > 0) yield* Effect.promise(() => redis.del(...keys))
    cursor = next
  } while (cursor !== "0")
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Live))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
