/**
 * One BullMQ Worker per job definition, as a scoped layer. Each job runs as its own unit of work: its `_ctx` is
 * checked and decoded (Envelope.ts), and the handler runs under that context on the runtime captured when the layer
 * was built. A job without a valid context fails at once and unrecoverably; it never runs without one, nor under
 * another job's.
 */
import { type Job, UnrecoverableError, Worker } from "bullmq"
import {
  Cause,
  Context,
  Duration,
  Effect,
  Either,
  Exit,
  type Fiber,
  FiberId,
  FiberRef,
  FiberRefs,
  HashMap,
  Layer,
  Runtime,
  RuntimeFlags,
  Schema,
  Tracer
} from "effect"
import { AppConfig } from "../Config.js"
import { RequestContext, type RequestContextData, Traceparent } from "../RequestContext.js"
import { describeParseError, Envelope } from "./Envelope.js"
import type { EncodedPayload, JobDefinition } from "./Job.js"
import { QueueRedis } from "./Redis.js"

export interface JobMeta {
  readonly jobId: string
  /** 1 on the first attempt. */
  readonly attempt: number
}

export type Handler<A, E, R> = (payload: A, meta: JobMeta) => Effect.Effect<unknown, E, R>

const parentSpanOf = (ctx: RequestContextData): Tracer.ExternalSpan => {
  const traceparent = ctx.traceparent ?? Traceparent.make()
  return Tracer.externalSpan({
    traceId: Traceparent.traceIdOf(traceparent),
    spanId: Traceparent.spanIdOf(traceparent),
    sampled: Traceparent.isSampled(traceparent)
  })
}

/** BullMQ recognises `UnrecoverableError` by class or name, so a failure must reach it unwrapped (BRIEF §5). */
const toThrowable = (cause: Cause.Cause<unknown>): Error => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error : new Error(typeof error === "string" ? error : JSON.stringify(error))
}

export const make = <A, I extends EncodedPayload, E, R>(job: JobDefinition<A, I>, handler: Handler<A, E, R>) =>
  Effect.gen(function* () {
    const redis = yield* QueueRedis
    const envelope = yield* Envelope
    const config = yield* AppConfig
    const runtime = yield* Effect.runtime<Exclude<R, RequestContext>>()
    const runFork = Runtime.runFork(runtime)
    /**
     * Job fibers run without Effect's per-fiber runtime metrics (on by default in Effect 3.22: counters and a
     * lifetime histogram updated at every fiber's start and end); nothing here reads or exports them.
     */
    const runtimeFlags = RuntimeFlags.disable(runtime.runtimeFlags, RuntimeFlags.RuntimeMetrics)
    const decodePayload = Schema.decodeUnknownEither(job.payload)
    /** Handlers still running, so that shutdown can interrupt them once its bound has passed. */
    const running = new Set<Fiber.RuntimeFiber<unknown, unknown>>()

    const reject = (jobId: string, reason: string) =>
      Effect.logWarning("job rejected without running", { job: job.name, jobId, reason }).pipe(
        Effect.zipRight(Effect.fail(new UnrecoverableError(reason)))
      )

    /** The captured runtime's log annotations plus this worker's job name, computed once. */
    const baseAnnotations = HashMap.set(
      FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentLogAnnotations),
      "job",
      job.name as unknown
    )

    /**
     * The job's unit of work runs on a runtime derived per job from the captured one: the context, the parent span
     * (from `_ctx.traceparent`, so spans the handler creates join the producer's trace) and the log annotations are
     * set when the fiber starts. Providing them with `withContext`/`annotateLogs`/`withSpan` instead cost 7× as much
     * per job (bench/queue.ts). The captured context is copied once, and the job's two services set in the copy.
     */
    const runtimeFor = (ctx: RequestContextData, jobId: string, attempt: number) => {
      const services = new Map(runtime.context.unsafeMap)
      services.set(RequestContext.key, ctx)
      services.set(Tracer.ParentSpan.key, parentSpanOf(ctx))
      return Runtime.make({
        context: Context.unsafeMake<RequestContext | Exclude<R, RequestContext>>(services),
        fiberRefs: FiberRefs.updateAs(runtime.fiberRefs, {
          fiberId: FiberId.none,
          fiberRef: FiberRef.currentLogAnnotations,
          value: HashMap.set(HashMap.set(baseAnnotations, "jobId", jobId as unknown), "attempt", attempt)
        }),
        runtimeFlags
      })
    }

    /**
     * Settles BullMQ's promise from the fiber; a failure is logged under the job's context (`jobRuntime`), then
     * retried by BullMQ. The processor takes no AbortSignal (BullMQ then creates no AbortController per job,
     * measurable in the bench): handlers are interrupted by shutdown through `running`; nothing calls `cancelJob`.
     */
    const settle = (fiber: Fiber.RuntimeFiber<unknown, unknown>, jobRuntime: Runtime.Runtime<never> | undefined) =>
      new Promise<void>((resolve, reject) => {
        running.add(fiber)
        fiber.addObserver((exit) => {
          running.delete(fiber)
          if (Exit.isSuccess(exit)) return resolve()
          if (jobRuntime !== undefined && !Cause.isInterruptedOnly(exit.cause)) {
            Runtime.runFork(jobRuntime)(Effect.logError("job failed", exit.cause))
          }
          reject(toThrowable(exit.cause))
        })
      })

    /** The BullMQ processor. */
    const processJob = (bullJob: Job): Promise<void> => {
      const jobId = bullJob.id ?? ""
      const opened = envelope.open(job.name, bullJob.data, { id: jobId, timestamp: bullJob.timestamp })
      if (Either.isLeft(opened)) return settle(runFork(reject(jobId, opened.left)), undefined)
      const payload = decodePayload(opened.right.payload)
      if (Either.isLeft(payload)) {
        return settle(runFork(reject(jobId, `invalid payload: ${describeParseError(payload.left)}`)), undefined)
      }
      const meta: JobMeta = { jobId, attempt: bullJob.attemptsMade + 1 }
      const jobRuntime = runtimeFor(opened.right.ctx, jobId, meta.attempt)
      // R ⊆ Exclude<R, RequestContext> | RequestContext, which TypeScript cannot see through the conditional type
      const effect = Effect.suspend(() => handler(payload.right, meta)) as Effect.Effect<unknown, E, RequestContext>
      return settle(Runtime.runFork(jobRuntime)(effect), jobRuntime)
    }

    const worker = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const w = new Worker(job.name, processJob, {
          connection: redis.worker,
          prefix: redis.prefix,
          concurrency: job.worker.concurrency,
          lockDuration: job.worker.lockDuration,
          stalledInterval: job.worker.stalledInterval,
          maxStalledCount: job.worker.maxStalledCount
        })
        w.on("error", (error) => Runtime.runFork(runtime)(Effect.logError("worker error", { job: job.name, error })))
        return w
      }),
      (w) => shutdown(w, running, Duration.millis(config.shutdownTimeoutMs), job.name)
    )
    yield* Effect.logDebug("worker started", { job: job.name, concurrency: job.worker.concurrency })
    return worker
  })

/**
 * `Worker.close()` stops taking jobs and waits for the active ones. Past the bound, the handlers still running are
 * interrupted: their jobs fail this attempt and are retried (by this or another process) with their original `_ctx`.
 */
const shutdown = (
  worker: Worker,
  running: Set<Fiber.RuntimeFiber<unknown, unknown>>,
  bound: Duration.Duration,
  name: string
) =>
  Effect.gen(function* () {
    const closing = worker.close()
    // Races at the promise level: a finalizer of an interrupted fiber must not rely on interrupting anything.
    const waitClosed = (within: Duration.DurationInput) =>
      Effect.promise(
        () =>
          new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), Duration.toMillis(within))
            const done = () => {
              clearTimeout(timer)
              resolve(true)
            }
            closing.then(done, done)
          })
      )
    if (!(yield* waitClosed(bound))) {
      yield* Effect.logWarning("shutdown bound reached: interrupting running jobs", {
        job: name,
        running: running.size
      })
      for (const fiber of running) fiber.unsafeInterruptAsFork(FiberId.none)
      if (!(yield* waitClosed("5 seconds"))) yield* Effect.promise(() => worker.close(true))
    }
    yield* Effect.logDebug("worker closed", { job: name })
  })

/** The worker of one job definition as a layer; merge these into the `worker` role (see Jobs.ts). */
export const layer = <A, I extends EncodedPayload, E, R>(
  job: JobDefinition<A, I>,
  handler: Handler<A, E, R>
): Layer.Layer<never, never, QueueRedis | Envelope | AppConfig | Exclude<R, RequestContext>> =>
  Layer.scopedDiscard(make(job, handler))
