import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Probe } from "../../src/Queue/Jobs/Probe.js"
import { Producer } from "../../src/Queue/Producer.js"
import { RequestContext } from "../../src/RequestContext.js"
import {
  cleanup,
  contextFor,
  eventually,
  type Line,
  queueLayer,
  rawQueue,
  redisUrl,
  uniquePrefix
} from "../Queue/Support.js"
import { freePort, spawnMain } from "./Support.js"

const prefix = uniquePrefix("main")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const env = (extra: Record<string, string> = {}) => ({
  REDIS_URL: redisUrl(),
  THREADLINE_QUEUE_PREFIX: prefix,
  THREADLINE_SHUTDOWN_TIMEOUT_MS: "20000",
  ...extra
})

const N = 30
const DELAY_MS = 1_500

describe("threadline serve (child process)", () => {
  layer(queueLayer(prefix, lines), { timeout: "90 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "SIGTERM on a worker finishes the active jobs, loses none of the accepted ones, and exits 0",
      () =>
        Effect.gen(function* () {
          const ctx = contextFor(11)
          yield* (yield* Producer)
            .enqueueBulk(
              Probe,
              Array.from({ length: N }, (_, n) => ({ delayMs: DELAY_MS, note: `p${n}` }))
            )
            .pipe(RequestContext.withContext(ctx))
          const queue = yield* rawQueue(Probe.name)
          const first = yield* spawnMain(["serve", "--roles", "worker"], env())
          yield* first.line((l) => l.msg === "threadline ready")
          // SIGTERM while a full batch is in flight and more jobs are waiting
          yield* eventually(
            Effect.promise(() => queue.getActiveCount()).pipe(Effect.map((n) => n === Probe.worker.concurrency))
          )
          first.child.kill("SIGTERM")
          expect(yield* first.exited).toBe(0)

          const counts = yield* Effect.promise(() =>
            queue.getJobCounts("completed", "failed", "active", "wait", "delayed")
          )
          expect(counts.completed).toBe(Probe.worker.concurrency)
          expect(counts).toEqual({
            completed: Probe.worker.concurrency,
            failed: 0,
            active: 0,
            wait: N - Probe.worker.concurrency,
            delayed: 0
          })
          const done = first.lines.filter((l) => l.msg === "probe done")
          expect(done).toHaveLength(Probe.worker.concurrency)
          expect(done.every((l) => l.requestId === ctx.requestId && l.origin === "job")).toBe(true)
          // workers drained before the shared Redis connections were closed
          const order = first.lines.map((l) => l.msg)
          expect(order.lastIndexOf("probe done")).toBeGreaterThan(order.indexOf("threadline shutting down"))

          // the jobs that were waiting are still there for the next worker, with their context
          const second = yield* spawnMain(["serve", "--roles", "worker"], env())
          yield* eventually(
            Effect.promise(() => queue.getCompletedCount()).pipe(Effect.map((n) => n === N)),
            "90 seconds"
          )
          second.child.kill("SIGINT")
          expect(yield* second.exited).toBe(0)
          const rest = second.lines.filter((l) => l.msg === "probe done")
          expect(rest).toHaveLength(N - Probe.worker.concurrency)
          expect(rest.every((l) => l.requestId === ctx.requestId)).toBe(true)
          const notes = new Set([...done, ...rest].map((l) => l.note))
          expect(notes.size).toBe(N)
        }).pipe(Effect.scoped),
      90_000
    )

    it.effect(
      "past the shutdown bound, running jobs are interrupted and retried later, never lost; exit is still 0",
      () =>
        Effect.gen(function* () {
          const ctx = contextFor(12)
          const queue = yield* rawQueue(Probe.name)
          yield* Effect.promise(() => queue.obliterate({ force: true }))
          yield* (yield* Producer)
            .enqueueBulk(
              Probe,
              Array.from({ length: 5 }, () => ({ delayMs: 60_000 }))
            )
            .pipe(RequestContext.withContext(ctx))
          const main = yield* spawnMain(["serve", "--roles", "worker"], env({ THREADLINE_SHUTDOWN_TIMEOUT_MS: "300" }))
          // start-up on a loaded machine can take longer than `eventually`'s bound; that is not what is tested here
          yield* main.line((l) => l.msg === "threadline ready")
          yield* eventually(Effect.promise(() => queue.getActiveCount()).pipe(Effect.map((n) => n === 5)))
          main.child.kill("SIGTERM")
          expect(yield* main.exited).toBe(0)
          expect(main.lines.some((l) => l.msg === "shutdown bound reached: interrupting running jobs")).toBe(true)
          const counts = yield* Effect.promise(() =>
            queue.getJobCounts("completed", "failed", "active", "wait", "delayed")
          )
          expect({ ...counts, pending: (counts.wait ?? 0) + (counts.delayed ?? 0) }).toMatchObject({
            completed: 0,
            failed: 0,
            active: 0,
            pending: 5
          })
          const jobs = yield* Effect.promise(() => queue.getJobs(["wait", "delayed"]))
          expect(jobs.map((j) => (j.data as { _ctx: { requestId: string } })._ctx.requestId)).toEqual(
            Array.from({ length: 5 }, () => ctx.requestId)
          )
          yield* Effect.promise(() => queue.obliterate({ force: true }))
        }).pipe(Effect.scoped),
      150_000
    )

    it.effect(
      "all roles in one process: serves HTTP, upserts the schedules, stops accepting on SIGTERM and exits 0",
      () =>
        Effect.gen(function* () {
          const port = yield* Effect.promise(freePort)
          const main = yield* spawnMain(["serve", "--roles", "api,worker,scheduler"], env({ PORT: String(port) }))
          yield* main.line((l) => l.msg === "threadline ready")
          const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/health`))
          expect(health.status).toBe(200)
          const ticks = yield* rawQueue("maintenance.tick")
          const schedulers = yield* Effect.promise(() => ticks.getJobSchedulers())
          expect(schedulers.map((s) => s.key)).toContain("maintenance.tick")
          // the first run of the schedule is consumed by this process's worker under a system context
          const tick = yield* main.line((l) => l.msg === "maintenance tick")
          expect(tick).toMatchObject({ actor: "system", organizationId: "org_system" })
          expect(tick.requestId).toMatch(/^JOB-/)
          main.child.kill("SIGTERM")
          expect(yield* main.exited).toBe(0)
          const after = yield* Effect.promise(() =>
            fetch(`http://127.0.0.1:${port}/health`).then(
              () => "answered",
              () => "refused"
            )
          )
          expect(after).toBe("refused")
        }).pipe(Effect.scoped),
      150_000
    )

    it.effect(
      "an unknown role is refused with a clear message and a failing exit code",
      () =>
        Effect.gen(function* () {
          const main = yield* spawnMain(["serve", "--roles", "api,bogus"], env())
          const code = yield* main.exited
          expect(code).not.toBe(0)
          expect(JSON.stringify(main.lines)).toContain("--roles takes a comma-separated subset of api,worker,scheduler")
        }).pipe(Effect.scoped),
      150_000
    )
  })
})
