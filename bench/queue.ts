/**
 * Job throughput: raw BullMQ against Threadline's Producer + Consumer, side by side in one run, same Redis, same
 * concurrency, same job options. Each round enqueues N jobs one by one from CONCURRENCY loops (each awaits its add
 * before the next, as requests would) while one worker (concurrency CONCURRENCY) drains them; the time is from the
 * first add to the last completion. Rounds alternate the variants; per-round ratios, median.
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/queue.ts      (N=20000 by default; BENCH_JOBS to change)
 * Floor rows, raw BullMQ both: `raw+_ctx bytes` carries a same-sized `_ctx` by hand; `raw+envelope` seals every job
 * with Threadline's Envelope and opens it in the worker (signature and context checks, no Effect): how close any
 * implementation keeping the signed, checked context can get to raw BullMQ.
 * Optional rows:
 *   BENCH_BULK=1         raw `Queue.addBulk` against `enqueueBulk`, BULK jobs per call (the same BullMQ API each side)
 *   BENCH_BASELINE=dir   also runs the Producer + Consumer of another checkout's `dir/src` (before/after a change):
 *                        `mkdir /tmp/before && git archive <rev> src package.json | tar -x -C /tmp/before &&
 *                        ln -s "$PWD/node_modules" /tmp/before/node_modules`
 */
import { Queue, Worker } from "bullmq"
import { ConfigProvider, Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { Redis } from "ioredis"
import type { Envelope as EnvelopeTag } from "../src/Queue/Envelope.js"
import * as Job from "../src/Queue/Job.js"
import type { RequestContextData } from "../src/RequestContext.js"
import { failUnlessPositive, sized } from "./smoke.js"

type EnvelopeService = EnvelopeTag

const N = sized("BENCH_JOBS", 20_000, 500)
const CONCURRENCY = 50
const BULK = 100
const ROUNDS = sized("BENCH_ROUNDS", 3, 1)
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const PREFIX = `tlbench-${Date.now().toString(36)}`

const definition = (name: string) =>
  Job.define({ name, payload: Schema.Struct({ n: Schema.Int }), worker: { concurrency: CONCURRENCY } })

/** Runs `f(0..n-1)` from `limit` loops, each awaiting its call before the next. */
const pool = async (n: number, limit: number, f: (i: number) => Promise<unknown>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await f(next++)
    })
  )
}

const chunks = (n: number) => Array.from({ length: Math.ceil(n / BULK) }, (_, c) => c * BULK)
const range = (from: number) => Array.from({ length: Math.min(BULK, N - from) }, (_, i) => ({ n: from + i }))

/**
 * What raw BullMQ carries and does per job besides the add and the handler, for the floor rows:
 * `bytes`: a same-sized `_ctx` by hand (no signing, no Schema, no Effect);
 * `envelope`: Threadline's own `_ctx` — sealed per job with `Envelope.seal` (child traceparent, HMAC) and opened in
 * the worker with `Envelope.open` (HMAC check, Schema-decoded context), but no Effect fiber, no runtime, no logging.
 */
type RawExtra =
  | { readonly _tag: "bytes"; readonly ctx: Record<string, unknown> }
  | { readonly _tag: "envelope"; readonly envelope: EnvelopeService; readonly ctx: RequestContextData }

const raw = async (name: string, mode: "add" | "bulk", extra?: RawExtra): Promise<number> => {
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
      if (extra?._tag === "envelope") {
        const opened = extra.envelope.open(name, j.data, { id: j.id ?? "", timestamp: j.timestamp })
        if (opened._tag === "Left") throw new Error(opened.left)
        sum += (opened.right.payload as { n: number }).n
      } else sum += (j.data as { n: number }).n
    },
    { connection: workerConnection, prefix: PREFIX, concurrency: CONCURRENCY }
  )
  worker.on("completed", () => {
    if (++completed === N) resolve()
  })
  const options = Job.jobOptions(job)
  const start = performance.now()
  const dataOf = (payload: { n: number }) =>
    extra === undefined
      ? payload
      : extra._tag === "bytes"
        ? { ...payload, ...extra.ctx }
        : extra.envelope.seal(name, extra.ctx, payload)
  if (mode === "add") await pool(N, CONCURRENCY, (n) => queue.add(name, dataOf({ n }), options))
  else {
    const starts = chunks(N)
    await pool(starts.length, CONCURRENCY / 10, (c) =>
      queue.addBulk(range(starts[c]!).map((data) => ({ name, data: dataOf(data), opts: options })))
    )
  }
  await done
  const elapsed = performance.now() - start
  await worker.close()
  await queue.close()
  await Promise.all([producer.quit(), workerConnection.quit()])
  if (sum !== (N * (N - 1)) / 2) throw new Error("raw: wrong payloads")
  return elapsed
}

/** The modules a Threadline variant runs: this checkout's `src`, or a baseline's (same exports, same signatures). */
const load = async (src: string) => ({
  AppConfig: ((await import(`${src}/Config.js`)) as typeof import("../src/Config.js")).AppConfig,
  Consumer: (await import(`${src}/Queue/Consumer.js`)) as typeof import("../src/Queue/Consumer.js"),
  Envelope: ((await import(`${src}/Queue/Envelope.js`)) as typeof import("../src/Queue/Envelope.js")).Envelope,
  Producer: ((await import(`${src}/Queue/Producer.js`)) as typeof import("../src/Queue/Producer.js")).Producer,
  QueueRedis: ((await import(`${src}/Queue/Redis.js`)) as typeof import("../src/Queue/Redis.js")).QueueRedis,
  RequestContext: ((await import(`${src}/RequestContext.js`)) as typeof import("../src/RequestContext.js"))
    .RequestContext
})
type Modules = Awaited<ReturnType<typeof load>>

const layerOf = (m: Modules) =>
  Layer.mergeAll(m.QueueRedis.Default, m.Envelope.Default, m.Producer.Default).pipe(
    Layer.provideMerge(m.AppConfig.Default),
    Layer.provide(
      Layer.setConfigProvider(
        ConfigProvider.fromMap(
          new Map([
            // a benchmark is development work: production would require a secret key
            ["THREADLINE_ENV", "development"],
            ["REDIS_URL", REDIS_URL],
            ["THREADLINE_QUEUE_PREFIX", PREFIX]
          ])
        )
      )
    ),
    Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Warning))
  )

const threadline = (m: Modules, name: string, mode: "add" | "bulk"): Promise<number> =>
  Effect.gen(function* () {
    const job = definition(name)
    let completed = 0
    let sum = 0
    let resolve = () => {}
    const done = new Promise<void>((r) => (resolve = r))
    const worker = yield* m.Consumer.make(job, (payload) =>
      Effect.map(m.RequestContext, () => {
        sum += payload.n
      })
    )
    worker.on("completed", () => {
      if (++completed === N) resolve()
    })
    const producer = yield* m.Producer
    const starts = chunks(N)
    let next = 0
    // the same shape as `pool`: a fixed number of loops, each enqueuing (awaiting) one call after another
    const loop =
      mode === "add"
        ? Effect.whileLoop({ while: () => next < N, body: () => producer.enqueue(job, { n: next++ }), step: () => {} })
        : Effect.whileLoop({
            while: () => next < starts.length,
            body: () => producer.enqueueBulk(job, range(starts[next++]!)),
            step: () => {}
          })
    const loops = mode === "add" ? CONCURRENCY : CONCURRENCY / 10
    const start = performance.now()
    yield* Effect.all(
      Array.from({ length: loops }, () => loop),
      { concurrency: "unbounded", discard: true }
    ).pipe(m.RequestContext.withContext(m.RequestContext.system("bench")))
    yield* Effect.promise(() => done)
    const elapsed = performance.now() - start
    if (sum !== (N * (N - 1)) / 2) return yield* Effect.dieMessage("threadline: wrong payloads")
    return elapsed
  }).pipe(Effect.scoped, Effect.provide(layerOf(m)), Effect.runPromise)

/** A real sealed `_ctx`, so the hand-carried variant moves exactly as many bytes per job as Threadline. */
const sealedContextSample = (m: Modules) =>
  Effect.map(m.Envelope, (envelope) => {
    const { n: _n, ...rest } = envelope.seal("bench", m.RequestContext.system("bench"), { n: 0 })
    return rest
  }).pipe(Effect.provide(layerOf(m)), Effect.runPromise)

/** The Envelope service itself, for the raw + envelope floor row. */
const envelopeOf = (m: Modules) => Effect.provide(m.Envelope, layerOf(m)).pipe(Effect.runPromise)

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
  const current = await load("../src")
  const baselineDir = process.env.BENCH_BASELINE
  const baseline = baselineDir === undefined ? undefined : await load(`${baselineDir}/src`)
  const sampleCtx = await sealedContextSample(current)
  const envelope = await envelopeOf(current)
  // one context for the whole run, as Threadline's side enqueues under one
  const systemCtx = current.RequestContext.system("bench")
  const variants: Array<[string, (name: string) => Promise<number>]> = [
    ["raw", (name) => raw(name, "add")],
    ["raw+_ctx bytes", (name) => raw(name, "add", { _tag: "bytes", ctx: sampleCtx })],
    ["raw+envelope", (name) => raw(name, "add", { _tag: "envelope", envelope, ctx: systemCtx })],
    ["threadline", (name) => threadline(current, name, "add")]
  ]
  if (baseline !== undefined) variants.push(["baseline threadline", (name) => threadline(baseline, name, "add")])
  if (process.env.BENCH_BULK === "1") {
    variants.push(["raw addBulk", (name) => raw(name, "bulk")])
    variants.push(["threadline enqueueBulk", (name) => threadline(current, name, "bulk")])
  }
  // warm-up: JIT and connection set-up, not measured
  for (const [label, run] of variants) await run(`warm-${label.toLowerCase().replace(/\W+/g, "-")}`)
  await cleanup()
  const times = new Map(variants.map(([label]) => [label, [] as Array<number>]))
  // CPU time of this process per job (producer and consumer together): less sensitive to a loaded machine than jobs/s
  const cpu = new Map(variants.map(([label]) => [label, [] as Array<number>]))
  for (let round = 0; round < ROUNDS; round++) {
    const line: Array<string> = []
    for (const [label, run] of variants) {
      const before = process.cpuUsage()
      const ms = await run(`${label.toLowerCase().replace(/\W+/g, "-")}-${round}`)
      const used = process.cpuUsage(before)
      failUnlessPositive(ms, label)
      times.get(label)!.push(ms)
      cpu.get(label)!.push((used.user + used.system) / N)
      line.push(`${label} ${rate(ms)}`)
    }
    console.log(`round ${round + 1}: ${line.join(", ")} jobs/s`)
    await cleanup()
  }
  // ratios are paired per round (same machine load), then the median is taken
  const ratio = (label: string, base: string) => {
    const over = times.get(label)!
    const under = times.get(base)!
    return median(over.map((t, i) => under[i]! / t)).toFixed(3)
  }
  const rateOf = (label: string) => rate(median(times.get(label)!))
  console.log(
    `median: raw BullMQ ${rateOf("raw")} jobs/s, Threadline ${rateOf("threadline")} jobs/s, ` +
      `ratio ${ratio("threadline", "raw")} (goal >= 0.9)`
  )
  console.log(
    `        raw BullMQ carrying a same-sized _ctx by hand ${rateOf("raw+_ctx bytes")} jobs/s, ` +
      `Threadline / that ${ratio("threadline", "raw+_ctx bytes")}`
  )
  console.log(
    `        CPU µs per job (median): ${variants.map(([label]) => `${label} ${median(cpu.get(label)!).toFixed(0)}`).join(", ")}`
  )
  console.log(
    `        floor: raw BullMQ carrying Threadline's signed _ctx (Envelope.seal per add, Envelope.open per job, no ` +
      `Effect) ${rateOf("raw+envelope")} jobs/s, ratio ${ratio("raw+envelope", "raw")}; Threadline / that ` +
      `${ratio("threadline", "raw+envelope")}`
  )
  if (baseline !== undefined) {
    console.log(
      `        baseline Threadline (${baselineDir}) ${rateOf("baseline threadline")} jobs/s, ` +
        `ratio ${ratio("baseline threadline", "raw")}; this / baseline ${ratio("threadline", "baseline threadline")}`
    )
  }
  if (process.env.BENCH_BULK === "1") {
    console.log(
      `        bulk (${BULK} per call): raw addBulk ${rateOf("raw addBulk")} jobs/s, enqueueBulk ` +
        `${rateOf("threadline enqueueBulk")} jobs/s, ratio ${ratio("threadline enqueueBulk", "raw addBulk")}`
    )
  }
}

main().catch(async (error: unknown) => {
  console.error(error)
  await cleanup()
  process.exitCode = 1
})
