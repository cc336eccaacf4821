/**
 * Enqueues jobs. `enqueue` and `enqueueBulk` require a RequestContext: a job can only be created inside a unit of work,
 * and it carries that unit's context (signed, with a child traceparent) in `_ctx` (see Envelope.ts).
 */
import { Queue } from "bullmq"
import { Data, Effect, Runtime, Schema } from "effect"
import { RequestContext } from "../RequestContext.js"
import { Envelope } from "./Envelope.js"
import { type EncodedPayload, type JobDefinition, jobOptions } from "./Job.js"
import { QueueRedis } from "./Redis.js"

export class QueueError extends Data.TaggedError("QueueError")<{
  readonly job: string
  readonly operation: "encode" | "add"
  readonly cause: unknown
}> {
  override get message() {
    return `queue ${this.operation} failed for job ${this.job}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export interface EnqueueOptions {
  /** Milliseconds before the job becomes available. */
  readonly delay?: number
  /** A caller-chosen id makes enqueue idempotent: a second add with the same id is ignored by BullMQ. */
  readonly jobId?: string
}

export class Producer extends Effect.Service<Producer>()("Queue/Producer", {
  scoped: Effect.gen(function* () {
    const redis = yield* QueueRedis
    const envelope = yield* Envelope
    const runtime = yield* Effect.runtime<never>()
    const queues = new Map<string, Queue>()
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.allSettled([...queues.values()].map((q) => q.close())))
    )

    const queueFor = <A, I extends EncodedPayload>(job: JobDefinition<A, I>): Queue => {
      let queue = queues.get(job.name)
      if (queue === undefined) {
        queue = new Queue(job.name, { connection: redis.producer, prefix: redis.prefix })
        queue.on("error", (error) =>
          Runtime.runFork(runtime)(Effect.logError("queue error", { queue: job.name, error }))
        )
        queues.set(job.name, queue)
      }
      return queue
    }

    const encode = <A, I extends EncodedPayload>(job: JobDefinition<A, I>, payload: A) =>
      Schema.encode(job.payload)(payload).pipe(
        Effect.mapError((cause) => new QueueError({ job: job.name, operation: "encode", cause }))
      )

    const add = <T>(job: { readonly name: string }, f: () => Promise<T>) =>
      Effect.tryPromise({ try: f, catch: (cause) => new QueueError({ job: job.name, operation: "add", cause }) })

    /** Adds one job under the current context; returns its BullMQ id. */
    const enqueue = <A, I extends EncodedPayload>(
      job: JobDefinition<A, I>,
      payload: A,
      options: EnqueueOptions = {}
    ): Effect.Effect<string, QueueError, RequestContext> =>
      Effect.flatMap(RequestContext, (ctx) =>
        Effect.flatMap(encode(job, payload), (encoded) => {
          const data = envelope.seal(job.name, ctx, encoded)
          return add(job, () => queueFor(job).add(job.name, data, { ...jobOptions(job), ...options }))
        })
      ).pipe(
        Effect.map((added) => added.id ?? ""),
        // no call-site stack capture: it costs more than the rest of an enqueue (bench/queue.ts)
        Effect.withSpan("Queue.enqueue", { attributes: { job: job.name }, captureStackTrace: false })
      )

    /** Adds many jobs of one kind in one round trip, all under the current context (each with its own span id). */
    const enqueueBulk = <A, I extends EncodedPayload>(
      job: JobDefinition<A, I>,
      payloads: ReadonlyArray<A>
    ): Effect.Effect<ReadonlyArray<string>, QueueError, RequestContext> =>
      Effect.gen(function* () {
        const ctx = yield* RequestContext
        const opts = jobOptions(job)
        const jobs: Array<{ name: string; data: Record<string, unknown>; opts: typeof opts }> = []
        for (const payload of payloads) {
          jobs.push({ name: job.name, data: envelope.seal(job.name, ctx, yield* encode(job, payload)), opts })
        }
        const added = yield* add(job, () => queueFor(job).addBulk(jobs))
        return added.map((j) => j.id ?? "")
      }).pipe(Effect.withSpan("Queue.enqueueBulk", { attributes: { job: job.name, count: payloads.length } }))

    return { enqueue, enqueueBulk } as const
  }),
  dependencies: [QueueRedis.Default, Envelope.Default]
}) {}
