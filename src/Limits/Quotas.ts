/**
 * Quota enforcement, everywhere the issue asks for it:
 * - ingestion: `ingest(sizes, write)` reserves, writes exactly the granted prefix, then commits (or releases when the
 *   write fails); a batch that crosses the monthly quota is accepted up to the remainder and the grant says exactly
 *   how much. 429 (QuotaExceeded) only when nothing at all fits, or stored bytes are over their quota.
 * - query: a per-organization search rate (`THREADLINE_RATE_LIMIT_QUERIES_PER_MINUTE`); 429 with Retry-After.
 * - creating alert rules and API keys: `checkCreate(resource)` inside the insert's transaction; 403 at the limit.
 * - alert evaluation: `allowAlertEvaluation` is false (with a log line and an audit row) for an organization over
 *   its monthly or storage quota.
 */
import { HttpApiSchema } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Exit, Schema } from "effect"
import { type IngestGrant, QuotaExceeded } from "../Logs/Quota.js"
import { type OrganizationId, RequestContext } from "../RequestContext.js"
import { Buckets } from "./Buckets.js"
import { LimitsAudit } from "./LimitsAudit.js"
import { LimitsConfig } from "./LimitsConfig.js"
import { LimitsRedis } from "./LimitsRedis.js"
import type { EffectiveLimits } from "./LimitsDocument.js"
import { secondsToNextMonth } from "./Month.js"
import { OrganizationLimits } from "./OrganizationLimits.js"
import { type CountedResource, ResourceCounts } from "./ResourceCounts.js"
import { Usage } from "./Usage.js"

/** How often an organization kept over quota gets its `alert.evaluation_skipped` audit row and log line. */
const SKIP_NOTICE_SECONDS = 3600

/** A count quota (API keys, alert rules) frees up only when something is deleted or the limit is raised. */
export const COUNT_QUOTA_RETRY_AFTER_SECONDS = 3600

export class LimitReached extends Schema.TaggedError<LimitReached>()(
  "LimitReached",
  {
    message: Schema.String,
    resource: Schema.Literal("alertRules", "apiKeys"),
    limit: Schema.Int,
    /** `Retry-After`: a count quota does not reset with time; this is how long a client should leave it alone. */
    retryAfterSeconds: Schema.Int
  },
  // API.md: "429 rate limited or over quota (with Retry-After)"; apiKeys and alertRules are quotas of the document
  HttpApiSchema.annotations({ status: 429 })
) {}

/** Stored bytes shrink only as retention deletes old partitions: a client should retry after about an hour. */
const STORAGE_RETRY_SECONDS = 3_600

const noun: Record<CountedResource, string> = { alertRules: "alert rules", apiKeys: "API keys" }

export class Quotas extends Effect.Service<Quotas>()("Limits/Quotas", {
  effect: Effect.gen(function* () {
    const usage = yield* Usage
    const limits = yield* OrganizationLimits
    const counts = yield* ResourceCounts
    const audit = yield* LimitsAudit
    const redis = yield* LimitsRedis
    const buckets = yield* Buckets
    const config = yield* LimitsConfig
    const storageCache = new Map<OrganizationId, { readonly bytes: number; readonly expiresAt: number }>()

    /** Stored bytes change slowly and cost a scan to measure: cached like the limits. */
    const storageUsed = (org: OrganizationId) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const hit = storageCache.get(org)
        if (hit !== undefined && hit.expiresAt > now) return Effect.succeed(hit.bytes)
        return Effect.tap(counts.storageBytes(org), (bytes) =>
          storageCache.set(org, { bytes, expiresAt: now + Duration.toMillis(config.cacheTtl) })
        )
      })

    const overStorage = (org: OrganizationId, quota: EffectiveLimits["quotas"]) =>
      Effect.map(storageUsed(org), (bytes) => bytes >= quota.storageBytes)

    const monthlyExceeded = (what: string) =>
      Effect.map(
        Clock.currentTimeMillis,
        (now) =>
          new QuotaExceeded({
            message: `monthly ${what} quota of this organization is used up; it resets at the start of next month (UTC)`,
            retryAfterSeconds: secondsToNextMonth(now)
          })
      )

    const storageExceeded = new QuotaExceeded({
      message: "stored bytes of this organization are over their quota; ingestion resumes as retention frees space",
      retryAfterSeconds: STORAGE_RETRY_SECONDS
    })

    /**
     * Ingests the longest prefix of a batch that the quota allows. `sizes[i]` is the byte size the quota counts for
     * entry i; `write(n)` must store exactly the first n entries and fail if it stored none.
     */
    const ingest = <A, E, R>(sizes: ReadonlyArray<number>, write: (accepted: number) => Effect.Effect<A, E, R>) =>
      Effect.gen(function* () {
        const ctx = yield* RequestContext
        const { quotas } = yield* limits.of(ctx.organizationId)
        if (yield* overStorage(ctx.organizationId, quotas)) return yield* storageExceeded
        return yield* Effect.acquireUseRelease(
          usage.reserve(sizes, { events: quotas.ingestEventsPerMonth, bytes: quotas.ingestBytesPerMonth }),
          (r): Effect.Effect<{ readonly grant: IngestGrant; readonly result: A }, QuotaExceeded | E, R> =>
            r.events === 0
              ? Effect.flatMap(monthlyExceeded("ingestion"), Effect.fail)
              : Effect.gen(function* () {
                  const result = yield* write(r.events)
                  const refused = sizes.length - r.events
                  const grant: IngestGrant = {
                    accepted: r.events,
                    acceptedBytes: r.bytes,
                    refused,
                    retryAfterSeconds: refused > 0 ? secondsToNextMonth(yield* Clock.currentTimeMillis) : null
                  }
                  return { grant, result }
                }),
          (r, exit) => (Exit.isSuccess(exit) ? usage.commit(r) : usage.release(r))
        )
      }).pipe(Effect.withSpan("Limits.ingestQuota", { captureStackTrace: false }))

    /** Searches per organization per minute; system work (alert evaluation) is not counted. */
    const checkQuery = Effect.gen(function* () {
      const ctx = yield* RequestContext
      if (ctx.actor._tag === "system") return
      const hit = yield* buckets.hit("query", ctx.organizationId, config.queriesPerMinute)
      if (!hit.allowed) {
        return yield* new QuotaExceeded({
          message: `search quota of ${hit.limit} searches per minute for this organization exceeded`,
          retryAfterSeconds: hit.resetSeconds
        })
      }
    })

    /**
     * Refuses to create one more alert rule or API key at the limit. Call it inside the transaction that inserts:
     * the advisory lock serializes concurrent creations of one organization until that transaction ends, so two
     * requests at limit − 1 cannot both pass.
     */
    const checkCreate = (resource: CountedResource) =>
      Effect.gen(function* () {
        const ctx = yield* RequestContext
        const sql = yield* SqlClient.SqlClient
        yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`limits:${resource}:${ctx.organizationId}`}))`.pipe(
          Effect.orDie
        )
        const limit = (yield* limits.of(ctx.organizationId)).quotas[resource]
        const count = yield* counts.count(resource)
        if (count >= limit) {
          return yield* new LimitReached({
            message: `this organization has ${count} ${noun[resource]}; its limit is ${limit}`,
            resource,
            limit,
            retryAfterSeconds: COUNT_QUOTA_RETRY_AFTER_SECONDS
          })
        }
      })

    /** False for an organization over its monthly ingestion or storage quota: its alerts are not evaluated. */
    const allowAlertEvaluation = Effect.gen(function* () {
      const ctx = yield* RequestContext
      const { quotas } = yield* limits.of(ctx.organizationId)
      const used = yield* usage.current(ctx.organizationId)
      const storage = yield* storageUsed(ctx.organizationId)
      const over = [
        used.events >= quotas.ingestEventsPerMonth ? "ingestEventsPerMonth" : null,
        used.bytes >= quotas.ingestBytesPerMonth ? "ingestBytesPerMonth" : null,
        storage >= quotas.storageBytes ? "storageBytes" : null
      ].filter((q) => q !== null)
      if (over.length === 0) return true
      // every rule of the organization is skipped every tick while it stays over: say so once an hour, not per rule
      // and minute (Redis down: said every time rather than never)
      const first = yield* redis
        .run("alertSkipNotice", (c) =>
          c.set(`${redis.prefix}:notice:alert-skip:${ctx.organizationId}`, "1", "EX", SKIP_NOTICE_SECONDS, "NX")
        )
        .pipe(
          Effect.map((reply) => reply === "OK"),
          Effect.orElseSucceed(() => true)
        )
      if (first) {
        yield* Effect.logWarning("limits: alert evaluation skipped, organization over quota", { quotas: over })
        yield* audit.record("alert.evaluation_skipped", { quotas: over, usage: { ...used, storageBytes: storage } })
      }
      return false
    })

    return { ingest, checkQuery, checkCreate, allowAlertEvaluation, storageUsed } as const
  }),
  dependencies: [Usage.Default, OrganizationLimits.Default, Buckets.Default, LimitsConfig.Default, LimitsRedis.Default]
}) {}
