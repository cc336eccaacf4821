/**
 * An end-to-end probe of the job path: enqueue it under any context and its log line shows the worker that ran it
 * received that context. The optional delay lets operators (and the shutdown tests) hold a job in flight.
 */
import { Effect, Schema } from "effect"
import { RequestContext } from "../../RequestContext.js"
import * as Job from "../Job.js"

export const Probe = Job.define({
  name: "diagnostics.probe",
  payload: Schema.Struct({
    delayMs: Schema.Int.pipe(Schema.between(0, 60_000)),
    note: Schema.optional(Schema.String.pipe(Schema.maxLength(200)))
  }),
  attempts: 3,
  removeOnComplete: { count: 1_000 },
  worker: { concurrency: 20 }
})

export const probe = (payload: typeof Probe.payload.Type) =>
  Effect.gen(function* () {
    if (payload.delayMs > 0) yield* Effect.sleep(payload.delayMs)
    const ctx = yield* RequestContext
    yield* Effect.logInfo("probe done", { note: payload.note ?? "", origin: ctx.origin })
  })
