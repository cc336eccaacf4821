/**
 * A typed job definition: the queue it lives on, its payload Schema and its retry and retention policy.
 * Each definition has its own BullMQ queue (named after the job), so one slow kind of job never starves another.
 */
import type { Schema } from "effect"

/** A payload's encoded form is a JSON object: the job data is its fields plus `_ctx`. */
export type EncodedPayload = { readonly [key: string]: unknown }

export interface Retention {
  /** Seconds a finished job is kept. */
  readonly age: number
  /** Most finished jobs kept; Redis cannot grow without limit. */
  readonly count: number
}

export interface Backoff {
  readonly type: "exponential" | "fixed"
  /** Milliseconds before the first retry (doubled per attempt for `exponential`). */
  readonly delay: number
}

/** Worker tuning; the defaults suit production, tests shorten the stall timings. */
export interface WorkerTuning {
  readonly concurrency: number
  /** How long a job's lock lives without renewal before the job counts as stalled (ms). */
  readonly lockDuration: number
  /** How often a worker looks for stalled jobs to take over (ms). */
  readonly stalledInterval: number
  /** How often a job may stall before it fails instead of being taken over. */
  readonly maxStalledCount: number
}

export interface JobDefinition<A, I extends EncodedPayload = EncodedPayload> {
  readonly _tag: "JobDefinition"
  readonly name: string
  readonly payload: Schema.Schema<A, I>
  readonly attempts: number
  readonly backoff: Backoff
  readonly removeOnComplete: Retention
  readonly removeOnFail: Retention
  readonly worker: WorkerTuning
}

export interface DefineOptions<A, I extends EncodedPayload> {
  readonly name: string
  readonly payload: Schema.Schema<A, I>
  readonly attempts?: number
  readonly backoff?: Backoff
  readonly removeOnComplete?: Partial<Retention>
  readonly removeOnFail?: Partial<Retention>
  readonly worker?: Partial<WorkerTuning>
}

/** BullMQ joins key parts with `:`, so names are kept to a safe alphabet. */
const NAME = /^[a-z][a-z0-9._-]{0,99}$/

export const defaults = {
  attempts: 5,
  backoff: { type: "exponential", delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  worker: { concurrency: 10, lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 1 }
} as const satisfies Omit<JobDefinition<unknown>, "_tag" | "name" | "payload">

export const define = <A, I extends EncodedPayload>(options: DefineOptions<A, I>): JobDefinition<A, I> => {
  if (!NAME.test(options.name)) throw new Error(`job name "${options.name}" must match ${String(NAME)}`)
  const attempts = options.attempts ?? defaults.attempts
  if (!Number.isInteger(attempts) || attempts < 1) throw new Error(`job "${options.name}": attempts must be >= 1`)
  return {
    _tag: "JobDefinition",
    name: options.name,
    payload: options.payload,
    attempts,
    backoff: options.backoff ?? defaults.backoff,
    removeOnComplete: { ...defaults.removeOnComplete, ...options.removeOnComplete },
    removeOnFail: { ...defaults.removeOnFail, ...options.removeOnFail },
    worker: { ...defaults.worker, ...options.worker }
  }
}

/** The BullMQ options every job of a definition is added with. */
export const jobOptions = <A, I extends EncodedPayload>(job: JobDefinition<A, I>) => ({
  attempts: job.attempts,
  backoff: job.backoff,
  removeOnComplete: job.removeOnComplete,
  removeOnFail: job.removeOnFail
})
