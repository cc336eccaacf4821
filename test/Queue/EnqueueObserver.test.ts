import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Either, Ref, Schema } from "effect"
import * as Job from "../../src/Queue/Job.js"
import { EnqueueObserver, Producer } from "../../src/Queue/Producer.js"
import { RequestContext } from "../../src/RequestContext.js"
import { cleanup, contextFor, jobName, type Line, queueLayer, rawQueue, uniquePrefix } from "./Support.js"

const prefix = uniquePrefix("observer")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const Payload = Schema.Struct({ n: Schema.Int })

interface Seen {
  readonly job: string
  readonly count: number
  readonly organizationId: string
  readonly requestId: string
}

/** An observer that records each call with the context it was called under. */
const recording = Effect.map(Ref.make<ReadonlyArray<Seen>>([]), (seen) => ({
  seen,
  observer: EnqueueObserver.of({
    enqueued: (job, count) =>
      Effect.flatMap(RequestContext, (ctx) =>
        Ref.update(seen, (s) => [...s, { job, count, organizationId: ctx.organizationId, requestId: ctx.requestId }])
      )
  })
}))

describe("Queue producer: EnqueueObserver", () => {
  layer(queueLayer(prefix, lines), { timeout: "30 seconds", excludeTestServices: true })((it) => {
    it.effect("an observer in the caller's context sees every add, its count, under the enqueuing organization", () =>
      Effect.gen(function* () {
        const job = Job.define({ name: jobName("observed"), payload: Payload })
        const producer = yield* Producer
        const { seen, observer } = yield* recording
        const a = contextFor(31)
        const b = contextFor(32)
        yield* Effect.gen(function* () {
          for (const n of [1, 2, 3]) yield* producer.enqueue(job, { n })
        }).pipe(RequestContext.withContext(a), Effect.provideService(EnqueueObserver, observer))
        yield* producer
          .enqueueBulk(
            job,
            [4, 5, 6, 7, 8].map((n) => ({ n }))
          )
          .pipe(RequestContext.withContext(b), Effect.provideService(EnqueueObserver, observer))
        // a failed add (here: a payload that does not encode) adds nothing and is not counted
        const bad = yield* producer
          .enqueue(job, { n: 1.5 })
          .pipe(RequestContext.withContext(a), Effect.provideService(EnqueueObserver, observer), Effect.either)
        expect(Either.isLeft(bad)).toBe(true)

        expect(yield* Ref.get(seen)).toEqual([
          { job: job.name, count: 1, organizationId: a.organizationId, requestId: a.requestId },
          { job: job.name, count: 1, organizationId: a.organizationId, requestId: a.requestId },
          { job: job.name, count: 1, organizationId: a.organizationId, requestId: a.requestId },
          { job: job.name, count: 5, organizationId: b.organizationId, requestId: b.requestId }
        ])
        const queue = yield* rawQueue(job.name)
        expect(yield* Effect.promise(() => queue.getWaitingCount())).toBe(8)
      }).pipe(Effect.scoped)
    )

    it.effect("without an observer, enqueue and enqueueBulk work unchanged", () =>
      Effect.gen(function* () {
        const job = Job.define({ name: jobName("unobserved"), payload: Payload })
        const producer = yield* Producer
        const ctx = contextFor(33)
        const id = yield* producer.enqueue(job, { n: 1 }).pipe(RequestContext.withContext(ctx))
        const ids = yield* producer
          .enqueueBulk(
            job,
            [2, 3].map((n) => ({ n }))
          )
          .pipe(RequestContext.withContext(ctx))
        const queue = yield* rawQueue(job.name)
        const jobs = yield* Effect.promise(() => queue.getJobs(["wait"]))
        expect(new Set(jobs.map((j) => j.id))).toEqual(new Set([id, ...ids]))
        expect(jobs.map((j) => (j.data as { _ctx: { requestId: string } })._ctx.requestId)).toEqual([
          ctx.requestId,
          ctx.requestId,
          ctx.requestId
        ])
      }).pipe(Effect.scoped)
    )
  })
})
