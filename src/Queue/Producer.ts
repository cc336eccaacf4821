/**
 * Enqueues jobs. `enqueue` and `enqueueBulk` require a RequestContext: a job can only be created inside a unit of work,
 * and it carries that unit's context (signed, with a child traceparent) in `_ctx` (see Envelope.ts).
 */
import { Queue } from "bullmq"
import { Context, Data, Effect, Either, type ParseResult, Runtime, Schema } from "effect"
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

/**
 * Optional: told after every successful add how many jobs of which kind were enqueued, under the enqueuing context
 * (so job usage can be attributed to its organization without the Queue area depending on whoever counts it).
 * Looked up in the caller's context at each enqueue; without one, enqueue works unchanged.
 */
export class EnqueueObserver extends Context.Tag("Queue/EnqueueObserver")<
  EnqueueObserver,
  { readonly enqueued: (job: string, count: number) => Effect.Effect<void, never, RequestContext> }
>() {}

export interface EnqueueOptions {
  /** Milliseconds before the job becomes available. */
  readonly delay?: number
  /** A caller-chosen id makes enqueue idempotent: a second add with the same id is ignored by BullMQ. */
  readonly jobId?: string
}

/** What is prepared once per job definition: its queue, its add options and its compiled payload encoder. */
interface Prepared {
  readonly queue: Queue
  readonly options: ReturnType<typeof jobOptions>
  readonly encode: (payload: unknown) => Either.Either<EncodedPayload, ParseResult.ParseError>
}

export class Producer extends Effect.Service<Producer>()("Queue/Producer", {
  scoped: Effect.gen(function* () {
    const redis = yield* QueueRedis
    const envelope = yield* Envelope
    const runtime = yield* Effect.runtime<never>()
    const queues = new Map<string, Queue>()
    const prepared = new WeakMap<object, Prepared>()
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.allSettled([...queues.values()].map((q) => q.close())))
    )

    const queueFor = (name: string): Queue => {
      let queue = queues.get(name)
      if (queue === undefined) {
        queue = new Queue(name, { connection: redis.producer, prefix: redis.prefix })
        queue.on("error", (error) => Runtime.runFork(runtime)(Effect.logError("queue error", { queue: name, error })))
        queues.set(name, queue)
      }
      return queue
    }

    const prepare = <A, I extends EncodedPayload>(job: JobDefinition<A, I>): Prepared => {
      let p = prepared.get(job)
      if (p === undefined) {
        const encode = Schema.encodeEither(job.payload) as (u: unknown) => Either.Either<I, ParseResult.ParseError>
        p = { queue: queueFor(job.name), options: jobOptions(job), encode }
        prepared.set(job, p)
      }
      return p
    }

    const encodeError = (job: string, cause: unknown) => new QueueError({ job, operation: "encode", cause })
    const addError = (job: string) => (cause: unknown) => new QueueError({ job, operation: "add", cause })

    /**
     * Adds one job under the current context; returns its BullMQ id. Deliberately a single Effect step around the
     * add, with no span: a span cost more than the rest of an enqueue (docs/performance.md). The job still joins the
     * caller's trace through `_ctx.traceparent`.
     */
    const enqueue = <A, I extends EncodedPayload>(
      job: JobDefinition<A, I>,
      payload: A,
      options?: EnqueueOptions
    ): Effect.Effect<string, QueueError, RequestContext> =>
      // one context read serves both the RequestContext and the optional observer (what Effect.serviceOption does)
      Effect.contextWithEffect((context: Context.Context<RequestContext>) => {
        const p = prepare(job)
        const encoded = p.encode(payload)
        if (Either.isLeft(encoded)) return Effect.fail(encodeError(job.name, encoded.left))
        const data = envelope.seal(job.name, Context.get(context, RequestContext), encoded.right)
        const opts = options === undefined ? p.options : { ...p.options, ...options }
        const added = Effect.tryPromise({ try: () => p.queue.add(job.name, data, opts), catch: addError(job.name) })
        const observer = Context.getOption(context, EnqueueObserver)
        return observer._tag === "None"
          ? Effect.map(added, (j) => j.id ?? "")
          : Effect.flatMap(added, (j) => Effect.as(observer.value.enqueued(job.name, 1), j.id ?? ""))
      })

    /** Adds many jobs of one kind in one round trip, all under the current context (each with its own span id). */
    const enqueueBulk = <A, I extends EncodedPayload>(
      job: JobDefinition<A, I>,
      payloads: ReadonlyArray<A>
    ): Effect.Effect<ReadonlyArray<string>, QueueError, RequestContext> =>
      Effect.gen(function* () {
        const context = yield* Effect.context<RequestContext>()
        const ctx = Context.get(context, RequestContext)
        const p = prepare(job)
        const jobs: Array<{ name: string; data: Record<string, unknown>; opts: Prepared["options"] }> = []
        for (const payload of payloads) {
          const encoded = p.encode(payload)
          if (Either.isLeft(encoded)) return yield* Effect.fail(encodeError(job.name, encoded.left))
          jobs.push({ name: job.name, data: envelope.seal(job.name, ctx, encoded.right), opts: p.options })
        }
        const added = yield* Effect.tryPromise({ try: () => p.queue.addBulk(jobs), catch: addError(job.name) })
        const observer = Context.getOption(context, EnqueueObserver)
        if (observer._tag === "Some" && added.length > 0) yield* observer.value.enqueued(job.name, added.length)
        return added.map((j) => j.id ?? "")
      }).pipe(Effect.withSpan("Queue.enqueueBulk", { attributes: { job: job.name, count: payloads.length } }))

    return { enqueue, enqueueBulk } as const
  }),
  dependencies: [QueueRedis.Default, Envelope.Default]
}) {}
