/**
 * Job enqueue attribution: every job enqueued under a context counts against that context's organization
 * (`usage.jobs`, shown as `jobsThisMonth`), through the Producer's `EnqueueObserver` hook, so no caller has to choose
 * a metered producer. The organization is the one the Producer seals into `_ctx`: a job enqueued by a consumer
 * (origin `job`) still counts against the tenant that caused it. An add with a caller-given `jobId` that BullMQ
 * ignores as a duplicate is still counted once per call.
 */
import { Effect, Layer } from "effect"
import { EnqueueObserver } from "../Queue/Producer.js"
import { Usage } from "./Usage.js"

export const EnqueueObserverLive: Layer.Layer<EnqueueObserver, never, Usage> = Layer.effect(
  EnqueueObserver,
  Effect.map(Usage, (usage) => ({ enqueued: (_job: string, count: number) => usage.addJobs(count) }))
)
