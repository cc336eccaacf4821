/**
 * The limits in force for an organization: the configured defaults with its overrides laid over them. Read on every
 * rate-limit check, so each process caches them for `THREADLINE_LIMITS_CACHE_SECONDS`; a change made through `put`
 * applies at once in this process and within that time everywhere else. When the store cannot be read the last
 * known limits stay in force (or the defaults, for an organization never seen), retried after a few seconds: a
 * database hiccup must not turn into 429s nor lift a tenant's limits.
 */
import { Clock, Deferred, Duration, Effect, FiberId } from "effect"
import { type OrganizationId, RequestContext } from "../RequestContext.js"
import { LimitsConfig } from "./LimitsConfig.js"
import { applyOverrides, type EffectiveLimits, noOverrides, type OverridesPatch } from "./LimitsDocument.js"
import { OverridesStore } from "./OverridesStore.js"

const MAX_ENTRIES = 10_000
const RETRY_AFTER_FAILURE = Duration.seconds(5)

interface Entry {
  readonly limits: EffectiveLimits
  readonly expiresAt: number
}

export class OrganizationLimits extends Effect.Service<OrganizationLimits>()("Limits/OrganizationLimits", {
  effect: Effect.gen(function* () {
    const config = yield* LimitsConfig
    const store = yield* OverridesStore
    const cache = new Map<OrganizationId, Entry>()
    const ttl = Duration.toMillis(config.cacheTtl)

    const remember = (id: OrganizationId, limits: EffectiveLimits, now: number, forMs: number) => {
      cache.delete(id)
      // Map keeps insertion order: the first key is the least recently loaded one.
      if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as OrganizationId)
      cache.set(id, { limits, expiresAt: now + forMs })
      return limits
    }

    /** Reads the store once per organization however many requests miss the cache at the same moment. */
    const load = (id: OrganizationId, now: number, stale: Entry | undefined) =>
      store.get(id).pipe(
        Effect.map((overrides) => remember(id, applyOverrides(config.defaults, overrides), now, ttl)),
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logWarning("limits: overrides unreadable; keeping the last known limits", { error: error.message }),
            remember(
              id,
              stale?.limits ?? applyOverrides(config.defaults, noOverrides),
              now,
              Duration.toMillis(RETRY_AFTER_FAILURE)
            )
          )
        )
      )
    const loading = new Map<OrganizationId, Deferred.Deferred<EffectiveLimits>>()

    const of = (id: OrganizationId): Effect.Effect<EffectiveLimits> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const hit = cache.get(id)
        if (hit !== undefined && hit.expiresAt > now) return Effect.succeed(hit.limits)
        const pending = loading.get(id)
        if (pending !== undefined) return Deferred.await(pending)
        const deferred = Deferred.unsafeMake<EffectiveLimits>(FiberId.none)
        loading.set(id, deferred)
        // uninterruptible: waiters must always be woken; the load itself never fails and is bounded by the store
        return Deferred.complete(deferred, load(id, now, hit)).pipe(
          Effect.ensuring(Effect.sync(() => loading.delete(id))),
          Effect.uninterruptible,
          Effect.zipRight(Deferred.await(deferred))
        )
      })

    /** The limits of the current context's organization. */
    const current = Effect.flatMap(RequestContext, (ctx) => of(ctx.organizationId))

    /** Drops this process's cached limits of `id`: the next read loads what is committed. */
    const forget = (id: OrganizationId) => Effect.sync(() => void cache.delete(id))

    /**
     * Stores a PUT body; returns the limits in force before (as read under the store's row lock) and after. The
     * cached entry is dropped rather than replaced: a caller that stores inside a larger transaction (the audited
     * HTTP handler) forgets it again once that commits or rolls back, so no process ever serves limits that were
     * not committed.
     */
    const put = (id: OrganizationId, patch: OverridesPatch) =>
      Effect.map(Effect.zipLeft(store.put(id, patch), forget(id)), ({ before, after }) => ({
        before: applyOverrides(config.defaults, before),
        after: applyOverrides(config.defaults, after)
      }))

    return { of, current, put, forget, defaults: config.defaults } as const
  }),
  dependencies: [LimitsConfig.Default]
}) {}
