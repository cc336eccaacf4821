import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import * as Consumer from "../../src/Queue/Consumer.js"
import { Envelope } from "../../src/Queue/Envelope.js"
import * as Job from "../../src/Queue/Job.js"
import {
  cleanup,
  configLayer,
  contextFor,
  eventually,
  jobName,
  type Line,
  queueLayer,
  rawQueue,
  uniquePrefix
} from "./Support.js"

const prefix = uniquePrefix("rejection")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const Payload = Schema.Struct({ n: Schema.Int })
const ctx = contextFor(7)

type Data = Record<string, unknown>
const ctxOf = (data: Data) => data._ctx as Data

/** Each case builds the job data from a correctly sealed job; `reason` is what the failed job must say. */
const cases: ReadonlyArray<{
  readonly name: string
  readonly reason: RegExp
  readonly data: (sealed: Data, envelope: Envelope, otherKey: Envelope) => unknown
}> = [
  { name: "missing _ctx", reason: /job has no _ctx/, data: () => ({ n: 1 }) },
  { name: "_ctx not an object", reason: /_ctx is not an object/, data: () => ({ n: 1, _ctx: "org_o7" }) },
  {
    name: "unknown version",
    reason: /_ctx version 2 is not supported/,
    data: (s) => ({ ...s, _ctx: { ...ctxOf(s), v: 2 } })
  },
  { name: "unsigned", reason: /_ctx is not signed/, data: (s) => ({ ...s, _ctx: { ...ctxOf(s), sig: undefined } }) },
  {
    name: "malformed organization id",
    reason: /invalid _ctx: .*organizationId/,
    data: (s) => ({ ...s, _ctx: { ...ctxOf(s), organizationId: "not an id" } })
  },
  {
    name: "identity that disagrees with its actor",
    reason: /invalid _ctx: .*userId must equal actor.userId/,
    data: (s) => ({ ...s, _ctx: { ...ctxOf(s), userId: "usr_someoneelse" } })
  },
  { name: "garbage", reason: /invalid _ctx/, data: () => ({ n: 1, _ctx: { v: 1, sig: "x", nope: 1 } }) },
  {
    name: "tampered: another tenant",
    reason: /_ctx signature mismatch/,
    data: (s) => ({ ...s, _ctx: { ...ctxOf(s), organizationId: "org_victim", projectId: "prj_victim" } })
  },
  {
    name: "tampered: another request id",
    reason: /_ctx signature mismatch/,
    data: (s) => ({ ...s, _ctx: { ...ctxOf(s), requestId: "API-1-forged" } })
  },
  { name: "tampered: payload changed", reason: /_ctx signature mismatch/, data: (s) => ({ ...s, n: 2 }) },
  {
    name: "signed with another key",
    reason: /_ctx signature mismatch/,
    data: (_s, _e, other) => other.seal(job.name, ctx, { n: 1 })
  },
  {
    name: "validly signed but invalid payload",
    reason: /invalid payload: n: /,
    data: (_s, envelope) => envelope.seal(job.name, ctx, { n: "one" })
  },
  {
    name: "moved from another job kind",
    reason: /_ctx signature mismatch/,
    data: (_s, envelope) => envelope.seal("some.other.job", ctx, { n: 1 })
  }
]

const job = Job.define({ name: jobName("rejected"), payload: Payload, attempts: 5 })

describe("Queue consumer rejects jobs without a valid context", () => {
  layer(queueLayer(prefix, lines), { timeout: "30 seconds", excludeTestServices: true })((it) => {
    it.effect("missing, malformed and tampered _ctx fail at once with their reason; the handler never runs", () =>
      Effect.gen(function* () {
        const ran = yield* Ref.make(0)
        yield* Consumer.make(job, () => Ref.update(ran, (n) => n + 1))
        const envelope = yield* Envelope
        const otherKey = yield* Effect.provide(
          Envelope,
          Envelope.Default.pipe(Layer.provide(configLayer({ THREADLINE_SECRET_KEY: "another-deployment-key" })))
        )
        const queue = yield* rawQueue(job.name)
        const sealed = envelope.seal(job.name, ctx, { n: 1 })
        const added = yield* Effect.forEach(cases, (c) =>
          Effect.promise(() => queue.add(job.name, c.data(sealed, envelope, otherKey), { attempts: 5 })).pipe(
            Effect.map((j) => ({ ...c, id: j.id! }))
          )
        )
        // a valid job after the bad ones proves the worker was running and is not poisoned by them
        yield* Effect.promise(() => queue.add(job.name, sealed, { attempts: 5 }))
        yield* eventually(Effect.map(Ref.get(ran), (n) => n === 1))
        yield* eventually(Effect.promise(() => queue.getFailedCount()).pipe(Effect.map((n) => n === cases.length)))
        for (const c of added) {
          const failed = yield* Effect.promise(() => queue.getJob(c.id))
          expect({ case: c.name, state: yield* Effect.promise(() => failed!.getState()) }).toEqual({
            case: c.name,
            state: "failed"
          })
          expect(failed!.attemptsMade, c.name).toBe(1)
          expect(failed!.failedReason, c.name).toMatch(c.reason)
        }
        expect(yield* Ref.get(ran)).toBe(1)
        const warnings = lines.filter((l) => l.msg === "job rejected without running" && l.job === job.name)
        expect(warnings).toHaveLength(cases.length)
        // an untrusted context never reaches a log line as if it were the unit of work's
        expect(warnings.filter((l) => l.requestId !== undefined || l.organizationId !== undefined)).toEqual([])
      }).pipe(Effect.scoped)
    )
  })
})
