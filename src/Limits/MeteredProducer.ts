/**
 * Job enqueue attribution: every job enqueued under a context counts against that context's organization
 * (`usage.jobs`, shown as `jobsThisMonth`). The organization comes from the RequestContext the Producer seals into
 * `_ctx`, so a job enqueued by a consumer (origin `job`) still counts against the tenant that caused it.
 *
 * This wrapper meters what goes through it; the hook proposed in README.md (an optional `EnqueueObserver` the
 * Producer calls after each add) meters every enqueue without callers having to choose it. An add with a caller-given
 * `jobId` that BullMQ ignores as a duplicate is still counted once per call.
 */
import { Effect } from "effect"
import type { EncodedPayload, JobDefinition } from "../Queue/Job.js"
import { type EnqueueOptions, Producer } from "../Queue/Producer.js"
import { Usage } from "./Usage.js"

export class MeteredProducer extends Effect.Service<MeteredProducer>()("Limits/MeteredProducer", {
  effect: Effect.gen(function* () {
    const producer = yield* Producer
    const usage = yield* Usage

    const enqueue = <A, I extends EncodedPayload>(job: JobDefinition<A, I>, payload: A, options?: EnqueueOptions) =>
      Effect.tap(producer.enqueue(job, payload, options), () => usage.addJobs(1))

    const enqueueBulk = <A, I extends EncodedPayload>(job: JobDefinition<A, I>, payloads: ReadonlyArray<A>) =>
      Effect.tap(producer.enqueueBulk(job, payloads), (ids) => usage.addJobs(ids.length))

    return { enqueue, enqueueBulk } as const
  }),
  dependencies: [Usage.Default]
}) {}
