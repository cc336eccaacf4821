/**
 * The limits area as one layer for a process role: rate limits, quotas and usage on the shared Redis, their ports on
 * the real tables (LimitsStorage.ts), the adapters other areas consume (the logs area's `Quota`, the HTTP platform's
 * `RequestLimiter`, the Producer's `EnqueueObserver` for job attribution) and the periodic usage flush, with a last round when the process stops.
 */
import { Effect, Layer } from "effect"
import { RequestLimiter } from "../Http/RequestLimiter.js"
import { Buckets } from "./Buckets.js"
import { EnqueueObserverLive } from "./JobAttribution.js"
import { LimitsConfig } from "./LimitsConfig.js"
import { LimitsRedis } from "./LimitsRedis.js"
import { LimitsStorageLive } from "./LimitsStorage.js"
import { LogsQuota } from "./LogsQuota.js"
import { OrganizationLimits } from "./OrganizationLimits.js"
import { Quotas } from "./Quotas.js"
import { RateLimiter } from "./RateLimiter.js"
import { Usage } from "./Usage.js"
import { UsageFlush } from "./UsageFlush.js"

const Core = LimitsRedis.DefaultWithoutDependencies.pipe(Layer.provideMerge(LimitsConfig.Default))

const Counters = Layer.mergeAll(
  Buckets.DefaultWithoutDependencies,
  OrganizationLimits.DefaultWithoutDependencies,
  Usage.DefaultWithoutDependencies
).pipe(Layer.provideMerge(Layer.merge(Core, LimitsStorageLive)))

const Services = Layer.mergeAll(
  Quotas.DefaultWithoutDependencies,
  RateLimiter.DefaultWithoutDependencies,
  UsageFlush.DefaultWithoutDependencies
).pipe(Layer.provideMerge(Counters))

/** The HTTP platform's rate-limit step, answered by RateLimiter. */
const RequestLimiterLive = Layer.effect(
  RequestLimiter,
  Effect.map(RateLimiter, (limiter) => ({ check: limiter.check }))
)

export const LimitsLive = Layer.mergeAll(
  LogsQuota.layer,
  RequestLimiterLive,
  EnqueueObserverLive,
  UsageFlush.Loop
).pipe(Layer.provideMerge(Services))
