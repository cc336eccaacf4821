/**
 * Settings of the limits area, read once from the environment. The rate limits and quotas here are the defaults every
 * organization gets; `organization_limits` overrides them per organization (see OrganizationLimits.ts).
 */
import { Config, Duration, Effect } from "effect"

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({
      message: `${name} must be a positive integer`,
      validation: (n) => Number.isSafeInteger(n) && n > 0
    })
  )

const GiB = 1024 * 1024 * 1024

export class LimitsConfig extends Effect.Service<LimitsConfig>()("Limits/LimitsConfig", {
  effect: Effect.gen(function* () {
    return {
      defaults: {
        rateLimit: {
          requestsPerMinute: yield* positive("THREADLINE_RATE_LIMIT_ORG_PER_MINUTE", 6_000),
          apiKeyRequestsPerMinute: yield* positive("THREADLINE_RATE_LIMIT_KEY_PER_MINUTE", 3_000)
        },
        quotas: {
          ingestEventsPerMonth: yield* positive("THREADLINE_QUOTA_INGEST_EVENTS_PER_MONTH", 100_000_000),
          ingestBytesPerMonth: yield* positive("THREADLINE_QUOTA_INGEST_BYTES_PER_MONTH", 100 * GiB),
          storageBytes: yield* positive("THREADLINE_QUOTA_STORAGE_BYTES", 50 * GiB),
          alertRules: yield* positive("THREADLINE_QUOTA_ALERT_RULES", 100),
          apiKeys: yield* positive("THREADLINE_QUOTA_API_KEYS", 50)
        }
      },
      /** Searches per organization per minute (the query quota: searches cost far more than other requests). */
      queriesPerMinute: yield* positive("THREADLINE_RATE_LIMIT_QUERIES_PER_MINUTE", 600),
      /** Key prefix in Redis; tests give each file its own. */
      redisPrefix: yield* Config.string("THREADLINE_LIMITS_PREFIX").pipe(Config.withDefault("threadline:limits")),
      /** A Redis command slower than this counts as Redis being unreachable (the request falls back, see README). */
      redisTimeout: Duration.millis(yield* positive("THREADLINE_LIMITS_REDIS_TIMEOUT_MS", 1_000)),
      /** API instances sharing the limits: while Redis is unreachable each allows `limit / instances` by itself. */
      instances: yield* positive("THREADLINE_RATE_LIMIT_INSTANCES", 1),
      /** How long an organization's effective limits are cached per process (a PUT shows elsewhere within this). */
      cacheTtl: Duration.seconds(yield* positive("THREADLINE_LIMITS_CACHE_SECONDS", 30)),
      /** How often usage counters are copied from Redis to Postgres `usage_counters` rows. */
      flushInterval: Duration.seconds(yield* positive("THREADLINE_USAGE_FLUSH_SECONDS", 10)),
      /** A reservation neither committed nor released within this is counted as used (its process died mid-write). */
      reservationTtl: Duration.seconds(yield* positive("THREADLINE_QUOTA_RESERVATION_TTL_SECONDS", 300))
    } as const
  })
}) {}
