/**
 * Cost of the context primitive, measured side by side in one run (ns per operation and ratios).
 *   npx tsx bench/context.ts          (also: npm run bench context)
 * Each case runs N operations inside one Effect program; the best of ROUNDS rounds is kept (2-core noisy machines).
 */
import { Context, Effect, Layer, Option, Tracer } from "effect"
import * as AlsBridge from "../src/AlsBridge.js"
import { RequestContext } from "../src/RequestContext.js"
import { failUnlessPositive, sized } from "./smoke.js"

const N = sized(undefined, 200_000, 5_000)
const ROUNDS = sized(undefined, 5, 1)
const ctx = RequestContext.system("bench")
const lib = async (): Promise<string | undefined> => AlsBridge.currentOrNull()?.requestId

/** The global alternative: a tracer whose context hook runs every fiber step inside als.run (not shipped). */
const AlsTracerLive = Layer.unwrapEffect(
  Effect.map(Effect.tracer, (base) =>
    Layer.setTracer(
      Tracer.make({
        span: (...args) => base.span(...args),
        context: (f, fiber) => {
          const found = Context.getOption(fiber.currentContext, RequestContext)
          return Option.isSome(found) ? AlsBridge.run(found.value, f) : f()
        }
      })
    )
  )
)

type Case = { readonly name: string; readonly run: () => Promise<unknown> }
const loop = <E>(step: Effect.Effect<unknown, E, RequestContext>) =>
  Effect.runPromise(Effect.repeatN(step, N - 1).pipe(RequestContext.withContext(ctx)))

const cases: ReadonlyArray<Case> = [
  { name: "Effect.void (baseline step)", run: () => loop(Effect.void) },
  { name: "yield* RequestContext", run: () => loop(RequestContext.current) },
  { name: "RequestContext.currentOption", run: () => loop(RequestContext.currentOption) },
  {
    name: "provide a context per unit of work",
    run: () => Effect.runPromise(Effect.repeatN(RequestContext.current.pipe(RequestContext.withContext(ctx)), N - 1))
  },
  { name: "Effect.promise(lib)", run: () => loop(Effect.promise(lib)) },
  { name: "AlsBridge.promise(lib)", run: () => loop(AlsBridge.promise(lib)) },
  { name: "Effect.sync(fn)", run: () => loop(Effect.sync(() => AlsBridge.currentOrNull())) },
  { name: "AlsBridge.sync(fn)", run: () => loop(AlsBridge.sync(() => AlsBridge.currentOrNull())) },
  {
    name: "tracer-hook bridge: Effect.promise(lib)",
    run: () =>
      Effect.runPromise(
        Effect.repeatN(Effect.promise(lib), N - 1).pipe(RequestContext.withContext(ctx), Effect.provide(AlsTracerLive))
      )
  },
  {
    name: "tracer-hook bridge: Effect.sync(fn)",
    run: () =>
      Effect.runPromise(
        Effect.repeatN(
          Effect.sync(() => AlsBridge.currentOrNull()),
          N - 1
        ).pipe(RequestContext.withContext(ctx), Effect.provide(AlsTracerLive))
      )
  }
]

const best = new Map<string, number>()
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    const t0 = process.hrtime.bigint()
    await c.run()
    const ns = Number(process.hrtime.bigint() - t0) / N
    best.set(c.name, Math.min(best.get(c.name) ?? Infinity, ns))
  }
}

const ns = (name: string) => best.get(name) ?? NaN
for (const c of cases) failUnlessPositive(ns(c.name), c.name)
console.log(`node ${process.version}, ${N} ops per case, best of ${ROUNDS} rounds`)
for (const c of cases) console.log(`${c.name.padEnd(44)} ${ns(c.name).toFixed(0).padStart(7)} ns/op`)
const ratio = (a: string, b: string) => console.log(`ratio ${a} / ${b}: ${(ns(a) / ns(b)).toFixed(2)}`)
ratio("yield* RequestContext", "Effect.void (baseline step)")
ratio("AlsBridge.promise(lib)", "Effect.promise(lib)")
ratio("AlsBridge.sync(fn)", "Effect.sync(fn)")
ratio("tracer-hook bridge: Effect.promise(lib)", "Effect.promise(lib)")
ratio("tracer-hook bridge: Effect.sync(fn)", "Effect.sync(fn)")
ratio("provide a context per unit of work", "yield* RequestContext")
