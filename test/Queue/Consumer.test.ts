import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Ref, Schema } from "effect"
import * as AlsBridge from "../../src/AlsBridge.js"
import * as Consumer from "../../src/Queue/Consumer.js"
import * as Job from "../../src/Queue/Job.js"
import { Producer } from "../../src/Queue/Producer.js"
import { RequestContext, type RequestContextData } from "../../src/RequestContext.js"
import { cleanup, contextFor, eventually, jobName, type Line, queueLayer, rawQueue, uniquePrefix } from "./Support.js"

const prefix = uniquePrefix("consumer")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const Payload = Schema.Struct({ n: Schema.Int, expect: Schema.String })

interface Seen {
  readonly n: number
  readonly expected: string
  readonly ctx: RequestContextData
  readonly als: string | undefined
  readonly attempt: number
}

/** A consumer that records the context each run saw, before and after an async gap, and through the ALS seam. */
const recorder = (job: Job.JobDefinition<typeof Payload.Type, typeof Payload.Encoded>, delay = () => 0) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<Seen>>([])
    const mismatches = yield* Ref.make<ReadonlyArray<string>>([])
    yield* Consumer.make(job, (payload, meta) =>
      Effect.gen(function* () {
        const before = yield* RequestContext
        yield* Effect.sleep(delay())
        const after = yield* RequestContext
        const als = yield* AlsBridge.promise(async () => {
          await new Promise((r) => setTimeout(r, delay()))
          return AlsBridge.currentOrNull()?.requestId
        })
        if (before.requestId !== after.requestId) yield* Ref.update(mismatches, (m) => [...m, `fiber ${payload.n}`])
        yield* Effect.logInfo("handled", { n: payload.n })
        yield* Ref.update(seen, (s) => [...s, { n: payload.n, expected: payload.expect, ctx: after, als, ...meta }])
      })
    )
    return { seen, mismatches }
  })

describe("Queue consumer", () => {
  layer(queueLayer(prefix, lines), { timeout: "30 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "producer to consumer: every context field arrives equal, as origin job, in the trace; logs carry the request id",
      () =>
        Effect.gen(function* () {
          const job = Job.define({ name: jobName("roundtrip"), payload: Payload })
          const { seen } = yield* recorder(job)
          const producer = yield* Producer
          const ctx = contextFor(1)
          yield* producer.enqueue(job, { n: 1, expect: ctx.requestId }).pipe(RequestContext.withContext(ctx))
          yield* eventually(Effect.map(Ref.get(seen), (s) => s.length === 1))
          const [run] = yield* Ref.get(seen)
          const { origin, traceparent, ...rest } = run!.ctx
          const { origin: sentOrigin, traceparent: sentTrace, ...sent } = ctx
          expect(rest).toEqual(sent)
          expect(sentOrigin).toBe("http")
          expect(origin).toBe("job")
          // same trace id, new parent id: the job joins the producer's trace as a child
          expect(traceparent?.slice(3, 35)).toBe(sentTrace?.slice(3, 35))
          expect(traceparent).not.toBe(sentTrace)
          expect(run!.als).toBe(ctx.requestId)
          const logged = lines.filter((l) => l.msg === "handled" && l.job === job.name)
          expect(logged).toHaveLength(1)
          expect(logged[0]).toMatchObject({
            requestId: ctx.requestId,
            organizationId: ctx.organizationId,
            projectId: ctx.projectId,
            userId: ctx.userId
          })
        }).pipe(Effect.scoped)
    )

    it.effect("a job that fails twice and succeeds on the third attempt keeps the original request id", () =>
      Effect.gen(function* () {
        const job = Job.define({ name: jobName("retry"), payload: Payload, backoff: { type: "fixed", delay: 20 } })
        const attempts = yield* Ref.make<ReadonlyArray<{ attempt: number; requestId: string }>>([])
        yield* Consumer.make(job, (_payload, meta) =>
          Effect.gen(function* () {
            const ctx = yield* RequestContext
            yield* Ref.update(attempts, (a) => [...a, { attempt: meta.attempt, requestId: ctx.requestId }])
            if (meta.attempt < 3) return yield* Effect.fail(new Error(`transient failure ${meta.attempt}`))
          })
        )
        const ctx = contextFor(2)
        const id = yield* (yield* Producer).enqueue(job, { n: 2, expect: "" }).pipe(RequestContext.withContext(ctx))
        const queue = yield* rawQueue(job.name)
        yield* eventually(Effect.promise(() => queue.getJobState(id)).pipe(Effect.map((s) => s === "completed")))
        expect(yield* Ref.get(attempts)).toEqual([1, 2, 3].map((attempt) => ({ attempt, requestId: ctx.requestId })))
        const failures = lines.filter((l) => l.msg === "job failed" && l.job === job.name)
        expect(failures.map((l) => l.requestId)).toEqual([ctx.requestId, ctx.requestId])
      }).pipe(Effect.scoped)
    )

    it.effect(
      "one request fans out 1,000 jobs: each carries that request's id",
      () =>
        Effect.gen(function* () {
          const job = Job.define({ name: jobName("fanout"), payload: Payload, worker: { concurrency: 50 } })
          const { seen } = yield* recorder(job)
          const ctx = contextFor(3)
          const ids = yield* (yield* Producer)
            .enqueueBulk(
              job,
              Array.from({ length: 1_000 }, (_, n) => ({ n, expect: ctx.requestId }))
            )
            .pipe(RequestContext.withContext(ctx))
          expect(new Set(ids).size).toBe(1_000)
          yield* eventually(
            Effect.map(Ref.get(seen), (s) => s.length === 1_000),
            "60 seconds"
          )
          const runs = yield* Ref.get(seen)
          expect(new Set(runs.map((r) => r.n)).size).toBe(1_000)
          expect(runs.filter((r) => r.ctx.requestId !== ctx.requestId || r.als !== ctx.requestId)).toEqual([])
          expect(runs.filter((r) => r.ctx.organizationId !== ctx.organizationId)).toEqual([])
          // every job is its own span in the request's trace
          expect(new Set(runs.map((r) => r.ctx.traceparent)).size).toBe(1_000)
          expect(new Set(runs.map((r) => r.ctx.traceparent?.slice(3, 35)))).toEqual(
            new Set([ctx.traceparent?.slice(3, 35)])
          )
        }).pipe(Effect.scoped),
      90_000
    )

    it.effect("50 concurrent jobs from 50 requests with random delays: zero cross-talk", () =>
      Effect.gen(function* () {
        const job = Job.define({ name: jobName("crosstalk"), payload: Payload, worker: { concurrency: 50 } })
        const { seen, mismatches } = yield* recorder(job, () => Math.floor(Math.random() * 40))
        const producer = yield* Producer
        const contexts = Array.from({ length: 50 }, (_, n) => contextFor(100 + n))
        yield* Effect.forEach(
          contexts,
          (ctx, n) => producer.enqueue(job, { n, expect: ctx.requestId }).pipe(RequestContext.withContext(ctx)),
          { concurrency: "unbounded" }
        )
        yield* eventually(Effect.map(Ref.get(seen), (s) => s.length === 50))
        const runs = yield* Ref.get(seen)
        expect(yield* Ref.get(mismatches)).toEqual([])
        const wrong = runs.filter((r) => {
          const sent = contexts[r.n]!
          return (
            r.ctx.requestId !== r.expected ||
            r.als !== r.expected ||
            r.ctx.organizationId !== sent.organizationId ||
            r.ctx.projectId !== sent.projectId ||
            r.ctx.userId !== sent.userId
          )
        })
        expect(wrong).toEqual([])
        const logged = lines.filter((l) => l.msg === "handled" && l.job === job.name)
        expect(logged).toHaveLength(50)
        expect(logged.filter((l) => l.requestId !== contexts[l.n as number]!.requestId)).toEqual([])
      }).pipe(Effect.scoped)
    )
  })
})
