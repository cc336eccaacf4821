/**
 * Periodic system work through BullMQ job schedulers. A schedule names a job definition, a fixed payload, a reason and
 * a repeat rule; the `scheduler` role upserts every schedule at start-up (idempotent, so any number of scheduler
 * processes may run) and BullMQ creates one job per run. The job's consumer (registered like any other, in Jobs.ts)
 * runs each run under a fresh system context: its own `JOB-…` request id and trace, actor `system`, the reason.
 */
import { Queue } from "bullmq"
import { Effect, Layer, Runtime, Schema } from "effect"
import { Envelope } from "./Envelope.js"
import { type EncodedPayload, type JobDefinition, jobOptions } from "./Job.js"
import { QueueRedis } from "./Redis.js"

export type Repeat = { readonly every: number } | { readonly pattern: string; readonly tz?: string }

/** A schedule with its payload already encoded, so that schedules of different jobs fit in one list. */
export interface Schedule {
  readonly id: string
  readonly jobName: string
  readonly reason: string
  readonly repeat: Repeat
  readonly payload: EncodedPayload
  readonly options: ReturnType<typeof jobOptions>
}

export const schedule = <A, I extends EncodedPayload>(options: {
  /** Unique per job definition; upserting the same id again updates that schedule. */
  readonly id: string
  readonly job: JobDefinition<A, I>
  readonly payload: A
  /** Recorded as the system actor's reason on every run. */
  readonly reason: string
  readonly repeat: Repeat
}): Schedule => ({
  id: options.id,
  jobName: options.job.name,
  reason: options.reason,
  repeat: options.repeat,
  payload: Schema.encodeSync(options.job.payload)(options.payload),
  options: jobOptions(options.job)
})

const upsert = (queue: Queue, envelope: Envelope, s: Schedule) =>
  Effect.tryPromise(() =>
    queue.upsertJobScheduler(s.id, s.repeat, {
      name: s.jobName,
      data: envelope.sealSchedule(s.jobName, s.id, s.reason, s.payload),
      opts: s.options
    })
  ).pipe(
    Effect.tap(() => Effect.logInfo("schedule upserted", { schedule: s.id, job: s.jobName, repeat: s.repeat })),
    Effect.orDie
  )

/** The `scheduler` role: upserts `schedules` and keeps their queues open until shutdown. */
export const layer = (schedules: ReadonlyArray<Schedule>): Layer.Layer<never, never, QueueRedis | Envelope> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const redis = yield* QueueRedis
      const envelope = yield* Envelope
      const runtime = yield* Effect.runtime<never>()
      const queues = new Map<string, Queue>()
      for (const s of schedules) {
        let queue = queues.get(s.jobName)
        if (queue === undefined) {
          const q = new Queue(s.jobName, { connection: redis.producer, prefix: redis.prefix })
          q.on("error", (error) =>
            Runtime.runFork(runtime)(Effect.logError("queue error", { queue: s.jobName, error }))
          )
          queue = yield* Effect.acquireRelease(Effect.succeed(q), () => Effect.promise(() => q.close()))
          queues.set(s.jobName, queue)
        }
        yield* upsert(queue, envelope, s)
      }
    })
  )

/** Removes a schedule (for a job that is retired); its already-created runs still complete. */
export const remove = (jobName: string, id: string) =>
  Effect.gen(function* () {
    const redis = yield* QueueRedis
    const queue = yield* Effect.acquireRelease(
      Effect.sync(() => new Queue(jobName, { connection: redis.producer, prefix: redis.prefix })),
      (q) => Effect.promise(() => q.close())
    )
    return yield* Effect.promise(() => queue.removeJobScheduler(id))
  }).pipe(Effect.scoped)
