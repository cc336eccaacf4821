import { type ChildProcess, spawn } from "node:child_process"
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Ref } from "effect"
import * as Consumer from "../../src/Queue/Consumer.js"
import { Producer } from "../../src/Queue/Producer.js"
import { RequestContext, type RequestContextData } from "../../src/RequestContext.js"
import { stallJob } from "./fixtures/SlowWorker.js"
import {
  cleanup,
  contextFor,
  eventually,
  jobName,
  type Line,
  queueLayer,
  rawQueue,
  redisUrl,
  uniquePrefix
} from "./Support.js"

const prefix = uniquePrefix("stalled")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

/** Starts the slow worker process; resolves each stdout line to `onLine`. */
const spawnWorker = (job: string, onLine: (line: string) => void) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, ["--import", "tsx", "test/Queue/fixtures/SlowWorker.ts"], {
        env: {
          ...process.env,
          REDIS_URL: redisUrl(),
          THREADLINE_QUEUE_PREFIX: prefix,
          STALL_JOB: job,
          LOG_LEVEL: "WARN"
        },
        stdio: ["ignore", "pipe", "inherit"]
      })
      let buffer = ""
      child.stdout.on("data", (chunk: Buffer) => {
        buffer += chunk.toString()
        const parts = buffer.split("\n")
        buffer = parts.pop() ?? ""
        for (const line of parts) onLine(line)
      })
      return child
    }),
    (child: ChildProcess) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

describe("a worker process killed mid-job", () => {
  layer(queueLayer(prefix, lines), { timeout: "90 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "another worker takes the stalled job and runs it with its original context",
      () =>
        Effect.gen(function* () {
          const job = stallJob(jobName("stall"))
          const ready = yield* Deferred.make<void>()
          const started = yield* Deferred.make<{ jobId: string; requestId: string }>()
          const child = yield* spawnWorker(job.name, (line) => {
            if (line === "READY") Deferred.unsafeDone(ready, Effect.void)
            const [tag, jobId, requestId] = line.split(" ")
            if (tag === "STARTED")
              Deferred.unsafeDone(started, Effect.succeed({ jobId: jobId!, requestId: requestId! }))
          })
          yield* Deferred.await(ready).pipe(Effect.timeout("60 seconds"))
          const ctx = contextFor(9)
          const id = yield* (yield* Producer).enqueue(job, { n: 9 }).pipe(RequestContext.withContext(ctx))
          const inChild = yield* Deferred.await(started).pipe(Effect.timeout("60 seconds"))
          expect(inChild).toEqual({ jobId: id, requestId: ctx.requestId })

          child.kill("SIGKILL")
          const takenOver = yield* Ref.make<ReadonlyArray<{ ctx: RequestContextData; attempt: number }>>([])
          yield* Consumer.make(job, (_payload, meta) =>
            Effect.flatMap(RequestContext, (seen) =>
              Ref.update(takenOver, (t) => [...t, { ctx: seen, attempt: meta.attempt }])
            )
          )
          const queue = yield* rawQueue(job.name)
          yield* eventually(Effect.promise(() => queue.getJobState(id)).pipe(Effect.map((s) => s === "completed")))
          const runs = yield* Ref.get(takenOver)
          expect(runs).toHaveLength(1)
          const { origin, traceparent, ...rest } = runs[0]!.ctx
          const { origin: _o, traceparent: sentTrace, ...sent } = ctx
          expect(rest).toEqual(sent)
          expect(origin).toBe("job")
          expect(traceparent?.slice(3, 35)).toBe(sentTrace?.slice(3, 35))
          // a stall is not a failed attempt: the job was moved back to wait, not retried
          expect(runs[0]!.attempt).toBe(1)
        }).pipe(Effect.scoped),
      150_000
    )
  })
})
