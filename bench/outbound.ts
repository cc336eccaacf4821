/**
 * What the outbound client costs: the same loopback receiver, side by side in one run, rounds alternating:
 *   undici       raw undici Agent.request (no Effect)
 *   effect       @effect/platform's undici client, no guard, no headers
 *   outbound     Threadline's Outbound (guarded connector, context headers, timeout, span)
 *   webhook      WebhookSender.send (body encoding, HMAC signature, classification) through Outbound
 * Keep-alive (the connector runs once per socket) and one connection per request (`Connection: close`: every
 * request resolves `localhost`, checks the addresses and dials again) are measured apart. Ratios are per round, median.
 *   npx tsx bench/outbound.ts          (BENCH_REQUESTS=4000 by default)
 */
import { createServer } from "node:http"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Agent } from "@effect/platform-node/Undici"
import { Effect, Layer, Redacted } from "effect"
import { makeEventId } from "../src/Alerts/WebhookPayload.js"
import { WebhookSender } from "../src/Alerts/WebhookSender.js"
import { Outbound } from "../src/Http/Outbound.js"
import { RequestContext } from "../src/RequestContext.js"
import { failIf, failUnlessPositive, sized } from "./smoke.js"

const N = sized("BENCH_REQUESTS", 4_000, 100)
const CONCURRENCY = 20
const ROUNDS = sized(undefined, 5, 1)

const ctx = RequestContext.system("bench")
const payload = {
  id: makeEventId(),
  type: "alert.triggered",
  version: 1,
  occurredAt: new Date(),
  organizationId: ctx.organizationId,
  projectId: null,
  data: {
    ruleId: "rul_1",
    ruleName: "bench",
    count: 12,
    threshold: 10,
    windowMinutes: 5,
    from: new Date(),
    to: new Date()
  }
} as const

/** Requests the receivers answered: every POST of every run must have reached one. */
let served = 0

const startServer = (close: boolean) =>
  new Promise<{ url: string; stop: () => Promise<void> }>((done) => {
    const server = createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        served++
        res.writeHead(200, close ? { connection: "close" } : {})
        res.end("ok")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      done({
        url: `http://localhost:${port}/hook`,
        stop: () =>
          new Promise((stopped) => {
            server.closeAllConnections()
            server.close(() => stopped())
          })
      })
    })
  })

const timed = async (run: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await run()
  return N / ((performance.now() - start) / 1000)
}

const rawUndici = async (url: string) => {
  const agent = new Agent()
  const { origin, pathname } = new URL(url)
  let next = 0
  const rate = await timed(() =>
    Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < N) {
          const res = await agent.request({ origin, path: pathname, method: "POST", body: "{}" })
          await res.body.text()
          failIf(res.statusCode !== 200, `undici: answered ${res.statusCode}`)
        }
      })
    )
  )
  await agent.destroy()
  return rate
}

const inEffect = <E>(url: string, layer: Layer.Layer<Outbound | WebhookSender, E>, variant: "outbound" | "webhook") =>
  Effect.gen(function* () {
    const client = yield* Outbound
    const sender = yield* WebhookSender
    const one: Effect.Effect<unknown, unknown, RequestContext> =
      variant === "outbound"
        ? Effect.flatMap(
            client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText("{}"))),
            (r) => r.text
          )
        : sender.send({ url, secret: Redacted.make("whsec_bench"), payload })
    const start = performance.now()
    yield* Effect.forEach(Array.from({ length: N }), () => one, { concurrency: CONCURRENCY, discard: true })
    return N / ((performance.now() - start) / 1000)
  }).pipe(RequestContext.withContext(ctx), Effect.provide(layer), Effect.scoped, Effect.runPromise)

const plainEffect = (url: string) =>
  Effect.gen(function* () {
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Agent()),
      (a) => Effect.promise(() => a.destroy())
    )
    const client = NodeHttpClient.makeUndici(agent).pipe(HttpClient.withTracerDisabledWhen(() => true))
    const one = Effect.flatMap(
      client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText("{}"))),
      (r) => r.text
    )
    const start = performance.now()
    yield* Effect.forEach(Array.from({ length: N }), () => one, { concurrency: CONCURRENCY, discard: true })
    return N / ((performance.now() - start) / 1000)
  }).pipe(Effect.scoped, Effect.runPromise)

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const scenario = async (label: string, close: boolean) => {
  const { url, stop } = await startServer(close)
  const layer = WebhookSender.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Outbound.layerWith({ allowPrivate: true, timeoutMs: 10_000 }))
  )
  const rows: Record<string, Array<number>> = { undici: [], effect: [], outbound: [], webhook: [] }
  const variants: ReadonlyArray<readonly [string, () => Promise<number>]> = [
    ["undici", () => rawUndici(url)],
    ["effect", () => plainEffect(url)],
    ["outbound", () => inEffect(url, layer, "outbound")],
    ["webhook", () => inEffect(url, layer, "webhook")]
  ]
  served = 0
  for (const [, run] of variants) await run() // warm-up: the JIT, not the first variant, pays for it
  // The order rotates per round so that drift on a noisy machine does not favour one variant.
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < variants.length; k++) {
      const [name, run] = variants[(round + k) % variants.length]!
      rows[name]!.push(await run())
    }
  }
  await stop()
  failIf(
    served !== N * variants.length * (ROUNDS + 1),
    `${label}: ${served} POSTs served of ${N * variants.length * (ROUNDS + 1)}`
  )
  for (const [name, rates] of Object.entries(rows)) for (const r of rates) failUnlessPositive(r, `${label}, ${name}`)
  const ratio = (name: string) => median(rows[name]!.map((r, i) => r / rows.effect![i]!)).toFixed(2)
  console.log(`\n${label}: ${N} POSTs, concurrency ${CONCURRENCY}, ${ROUNDS} rounds (req/s median; ratio to effect)`)
  for (const name of Object.keys(rows)) {
    console.log(`  ${name.padEnd(9)} ${median(rows[name]!).toFixed(0).padStart(7)} req/s   x${ratio(name)}`)
  }
}

await scenario("keep-alive", false)
await scenario("one connection per request (Connection: close)", true)
