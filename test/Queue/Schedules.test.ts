/**
 * The scheduler role's schedule list takes its settings from AppConfig, not from `process.env`: the alert tick
 * runs every THREADLINE_ALERT_TICK_SECONDS as the config service reads it.
 */
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { AlertsTick } from "../../src/Alerts/AlertJobs.js"
import { SchedulerLive } from "../../src/Queue/Jobs.js"
import { cleanup, type Line, queueLayer, rawQueue, uniquePrefix } from "./Support.js"

const prefix = uniquePrefix("schedules")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

describe("Queue schedules", () => {
  layer(queueLayer(prefix, lines, { THREADLINE_ALERT_TICK_SECONDS: "7" }), {
    timeout: "30 seconds",
    excludeTestServices: true
  })((it) => {
    it.effect("the alert tick period is AppConfig's alertTickSeconds", () =>
      Effect.gen(function* () {
        expect(process.env.THREADLINE_ALERT_TICK_SECONDS).toBeUndefined()
        yield* Layer.build(SchedulerLive)
        const queue = yield* rawQueue(AlertsTick.name)
        const tick = yield* Effect.promise(() => queue.getJobScheduler("alerts.tick"))
        expect(tick?.every).toBe(7_000)
      }).pipe(Effect.scoped)
    )
  })
})
