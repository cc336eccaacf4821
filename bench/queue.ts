/**
 * Job throughput: raw BullMQ against Threadline's Producer + Consumer, side by side in one run, same Redis, same
 * concurrency, same job options. Each round enqueues N jobs one by one (CONCURRENCY adds in flight, as requests
 * would) while one worker (concurrency CONCURRENCY) drains them; the time is from the first add to the last
 * completion. Rounds alternate raw / raw carrying a same-sized `_ctx` / Threadline; per-round ratios, median.
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/queue.ts      (N=20000 by default; BENCH_JOBS to change)
 */
import { Queue, Worker } from "bullmq"
import { ConfigProvider, Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { Redis } from "ioredis"
import { AppConfig } from "../src/Config.js"
import * as Consumer from "../src/Queue/Consumer.js"
import { Envelope } from "../src/Queue/Envelope.js"
import * as Job from "../src/Queue/Job.js"
import { Producer } from "../src/Queue/Producer.js"
import { QueueRedis } from "../src/Queue/Redis.js"
import { RequestContext } from "../src/RequestContext.js"

const N = Number(process.env.BENCH_JOBS ?? 20_000)
const CONCURRENCY = 50
const ROUNDS = 3
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const PREFIX = `tlbench-${Date.now().toString(36)}`

const definition = (name: string) =>
  Job.define({ name, payload: Schema.Struct({ n: Schema.Int }), worker: { concurrency: CONCURRENCY } })

/** Runs `f(0..n-1)` with at most `limit` calls in flight. */
const pool = async (n: number, limit: number, f: (i: number) => Promise<unknown>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await f(next++)
    })
  )
}

/** `withContext`: raw BullMQ carrying a same-sized `_ctx` by hand (no signing, no Schema, no Effect). */
const raw = async (name: string, withContext?: Record<string, unknown>): Promise<number> => {
  const job = definition(name)
  const producer = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  const workerConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const queue = new Queue(name, { connection: producer, prefix: PREFIX })
  let completed = 0
  let sum = 0
  let resolve = () => {}
  const done = new Promise<void>((r) => (resolve = r))
  const worker = new Worker(
    name,
    async (j) => {
      sum += (j.data as { n: number }).n
    },
    { connection: workerConnection, prefix: PREFIX, concurrency: CONCURRENCY }
  )
  worker.on("completed", () => {
    if (++completed === N) resolve()
  })
  const start = performance.now()
  await pool(N, CONCURRENCY, (n) => queue.add(name, { n, ...withContext }, Job.jobOptions(job)))
  await done
  const elapsed = performance.now() - start
  await worker.close()
  await queue.close()
  await Promise.all([producer.quit(), workerConnection.quit()])
  if (sum !== (N * (N - 1)) / 2) throw new Error("raw: wrong payloads")
  return elapsed
}

const QueueLive = Layer.mergeAll(QueueRedis.Default, Envelope.Default, Producer.Default).pipe(
  Layer.provideMerge(AppConfig.Default),
  Layer.provide(
    Layer.setConfigProvider(
      ConfigProvider.fromMap(
        new Map([
          ["REDIS_URL", REDIS_URL],
          ["THREADLINE_QUEUE_PREFIX", PREFIX]
        ])
      )
    )
  ),
  Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Warning))
)

const threadline = (name: string): Promise<number> =>
  Effect.gen(function* () {
    const job = definition(name)
    let completed = 0
    let sum = 0
    let resolve = () => {}
    const done = new Promise<void>((r) => (resolve = r))
    const worker = yield* Consumer.make(job, (payload) =>
      Effect.map(RequestContext, () => {
        sum += payload.n
      })
    )
    worker.on("completed", () => {
      if (++completed === N) resolve()
    })
    const producer = yield* Producer
    const ctx = RequestContext.system("bench")
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: N }, (_, n) => n),
      (n) => producer.enqueue(job, { n }),
      {
        concurrency: CONCURRENCY,
        discard: true
      }
    ).pipe(RequestContext.withContext(ctx))
    yield* Effect.promise(() => done)
    const elapsed = performance.now() - start
    if (sum !== (N * (N - 1)) / 2) return yield* Effect.dieMessage("threadline: wrong payloads")
    return elapsed
  }).pipe(Effect.scoped, Effect.provide(QueueLive), Effect.runPromise)

/** A real sealed `_ctx`, so the hand-carried variant moves exactly as many bytes per job as Threadline. */
const sealedContextSample = () =>
  Effect.map(Envelope, (envelope) => {
    const { n: _n, ...rest } = envelope.seal("bench", RequestContext.system("bench"), { n: 0 })
    return rest
  }).pipe(Effect.provide(QueueLive), Effect.runPromise)

const cleanup = async () => {
  const redis = new Redis(REDIS_URL)
  let cursor = "0"
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}:*`, "COUNT", 1000)
    if (keys.length > 0) await redis.del(...keys)
    cursor = next
  } while (cursor !== "0")
  await redis.quit()
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rate = (ms: number) => Math.round((N / ms) * 1000)

const main = async () => {
  console.log(
    `${N} jobs, concurrency ${CONCURRENCY}, ${ROUNDS} rounds, Redis ${REDIS_URL.replace(/\/\/.*@/, "//***@")}`
  )
  const sampleCtx = await sealedContextSample()
  // warm-up: JIT and connection set-up, not measured
  await raw("warm-raw")
  await raw("warm-rawctx", sampleCtx)
  await threadline("warm-tl")
  await cleanup()
  const rawTimes: Array<number> = []
  const rawCtxTimes: Array<number> = []
  const tlTimes: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    rawTimes.push(await raw(`raw-${round}`))
    rawCtxTimes.push(await raw(`rawctx-${round}`, sampleCtx))
    tlTimes.push(await threadline(`tl-${round}`))
    console.log(
      `round ${round + 1}: raw ${rate(rawTimes[round]!)}, raw+_ctx bytes ${rate(rawCtxTimes[round]!)}, ` +
        `threadline ${rate(tlTimes[round]!)} jobs/s`
    )
    await cleanup()
  }
  // ratios are paired per round (same machine load), then the median is taken
  const ratio = (base: Array<number>) => median(tlTimes.map((t, i) => base[i]! / t)).toFixed(3)
  console.log(
    `median: raw BullMQ ${rate(median(rawTimes))} jobs/s, Threadline ${rate(median(tlTimes))} jobs/s, ` +
      `ratio ${ratio(rawTimes)} (goal >= 0.9)`
  )
  console.log(
    `        raw BullMQ carrying a same-sized _ctx by hand ${rate(median(rawCtxTimes))} jobs/s, ` +
      `Threadline / that ${ratio(rawCtxTimes)}`
  )
}

main().catch(async (error: unknown) => {
  console.error(error)
  await cleanup()
  process.exitCode = 1
})
