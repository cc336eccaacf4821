import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import * as Consumer from "../../src/Queue/Consumer.js"
import * as Job from "../../src/Queue/Job.js"
import * as Scheduler from "../../src/Queue/Scheduler.js"
import { RequestContext, type RequestContextData, SYSTEM_ORGANIZATION_ID } from "../../src/RequestContext.js"
import { cleanup, eventually, jobName, type Line, queueLayer, rawQueue, uniquePrefix } from "./Support.js"

const prefix = uniquePrefix("scheduler")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

describe("Queue scheduler", () => {
  layer(queueLayer(prefix, lines), { timeout: "30 seconds", excludeTestServices: true })((it) => {
    it.effect("every run gets a fresh system context, kept across that run's retries", () =>
      Effect.gen(function* () {
        const job = Job.define({
          name: jobName("tick"),
          payload: Schema.Struct({ scope: Schema.String }),
          attempts: 2,
          backoff: { type: "fixed", delay: 10 }
        })
        const runs = yield* Ref.make<ReadonlyArray<{ jobId: string; attempt: number; ctx: RequestContextData }>>([])
        yield* Consumer.make(job, (payload, meta) =>
          Effect.gen(function* () {
            const ctx = yield* RequestContext
            yield* Ref.update(runs, (r) => [...r, { ...meta, ctx }])
            yield* Effect.logInfo("tick", { scope: payload.scope })
            if (meta.attempt === 1) return yield* Effect.fail(new Error("first attempts fail"))
          })
        )
        const schedule = Scheduler.schedule({
          id: "test-tick",
          job,
          payload: { scope: "all" },
          reason: "test maintenance",
          repeat: { every: 200 }
        })
        // two scheduler processes upserting the same schedule make one schedule
        yield* Layer.launch(Scheduler.layer([schedule])).pipe(Effect.timeout("300 millis"), Effect.ignore)
        yield* Layer.build(Scheduler.layer([schedule]))
        const queue = yield* rawQueue(job.name)
        expect((yield* Effect.promise(() => queue.getJobSchedulers())).map((s) => s.key)).toEqual(["test-tick"])

        const completedRuns = Effect.map(
          Ref.get(runs),
          (r) => new Set(r.filter((x) => x.attempt === 2).map((x) => x.jobId))
        )
        yield* eventually(Effect.map(completedRuns, (ids) => ids.size >= 3))
        const all = yield* Ref.get(runs)
        const byJob = new Map<string, Array<RequestContextData>>()
        for (const r of all) byJob.set(r.jobId, [...(byJob.get(r.jobId) ?? []), r.ctx])
        for (const contexts of byJob.values()) {
          for (const ctx of contexts) {
            expect(ctx.origin).toBe("system")
            expect(ctx.actor).toEqual({ _tag: "system", reason: "test maintenance" })
            expect(ctx.organizationId).toBe(SYSTEM_ORGANIZATION_ID)
            expect([ctx.userId, ctx.apiKeyId, ctx.projectId]).toEqual([null, null, null])
            expect(ctx.requestId).toMatch(/^JOB-\d{13}-[0-9a-f]{24}$/)
            expect(ctx.requestId).toBe(contexts[0]!.requestId)
            expect(ctx.traceparent).toBe(contexts[0]!.traceparent)
          }
        }
        const firsts = [...byJob.values()].map((c) => c[0]!)
        expect(new Set(firsts.map((c) => c.requestId)).size).toBe(byJob.size)
        expect(new Set(firsts.map((c) => c.traceparent?.slice(3, 35))).size).toBe(byJob.size)
        const logged = lines.filter((l) => l.msg === "tick" && l.job === job.name)
        expect(logged.every((l) => typeof l.requestId === "string" && l.actor === "system")).toBe(true)
        yield* Scheduler.remove(job.name, "test-tick")
      }).pipe(Effect.scoped)
    )
  })
})
