/**
 * AsyncLocalStorage mirror of the RequestContext for non-Effect code (libraries, event handlers, callbacks).
 * The mirror is entered explicitly at each seam with `als.run`, never with `enterWith`, which would leak a context
 * into whatever runs next on the same async resource. The global tracer-hook alternative is measured in
 * bench/context.ts and recorded in docs/decisions.md.
 */
import { AsyncLocalStorage } from "node:async_hooks"
import { Effect, Exit, Runtime } from "effect"
import { RequestContext, type RequestContextData } from "./RequestContext.js"

const storage = new AsyncLocalStorage<RequestContextData>()

export class NoRequestContext extends Error {
  override readonly name = "NoRequestContext"
  constructor() {
    super("no RequestContext: this code runs outside a unit of work (use AlsBridge.promise or AlsBridge.run)")
  }
}

/** Runs plain code with `ctx` visible to `currentOrNull()` in it and in every async continuation it starts. */
export const run = <A>(ctx: RequestContextData, f: () => A): A => storage.run(ctx, f)

/** The context plain code is running under, or null outside a unit of work. */
export const currentOrNull = (): RequestContextData | null => storage.getStore() ?? null

/** The context plain code is running under; throws `NoRequestContext` outside a unit of work. */
export const current = (): RequestContextData => {
  const ctx = storage.getStore()
  if (ctx === undefined) throw new NoRequestContext()
  return ctx
}

/**
 * Like `Effect.promise`, with the current context visible to the promise's code through `currentOrNull()`.
 * The AbortSignal is only created when `f` declares it: Effect allocates an AbortController per call for
 * one-argument thunks, which costs more than the bridge itself (bench/context.ts).
 */
export const promise = <A>(f: (signal: AbortSignal) => PromiseLike<A>): Effect.Effect<A, never, RequestContext> =>
  Effect.flatMap(RequestContext, (ctx) =>
    f.length === 0
      ? Effect.promise(() => storage.run(ctx, f as () => PromiseLike<A>))
      : Effect.promise((signal) => storage.run(ctx, () => f(signal)))
  )

/** Like `Effect.tryPromise`, with the current context visible to the promise's code. */
export const tryPromise = <A, E>(options: {
  readonly try: (signal: AbortSignal) => PromiseLike<A>
  readonly catch: (error: unknown) => E
}): Effect.Effect<A, E, RequestContext> =>
  Effect.flatMap(RequestContext, (ctx) =>
    options.try.length === 0
      ? Effect.tryPromise({
          try: () => storage.run(ctx, options.try as () => PromiseLike<A>),
          catch: options.catch
        })
      : Effect.tryPromise({ try: (signal) => storage.run(ctx, () => options.try(signal)), catch: options.catch })
  )

/** Like `Effect.sync`, with the current context visible to the function. */
export const sync = <A>(f: () => A): Effect.Effect<A, never, RequestContext> =>
  Effect.flatMap(RequestContext, (ctx) => Effect.sync(() => storage.run(ctx, f)))

/**
 * Lets plain code (an event listener, a library callback) enter Effect under the context it is running in.
 * Rejects with `NoRequestContext` outside a unit of work instead of running without one.
 */
export const runEffect = <A, E, R extends RequestContext = RequestContext>(
  effect: Effect.Effect<A, E, R>,
  runtime: Runtime.Runtime<Exclude<R, RequestContext>>
): Promise<A> => {
  const ctx = storage.getStore()
  if (ctx === undefined) return Promise.reject(new NoRequestContext())
  return Runtime.runPromiseExit(runtime)(Effect.provideService(effect, RequestContext, ctx)).then((exit) =>
    Exit.isSuccess(exit) ? exit.value : Promise.reject(Runtime.makeFiberFailure(exit.cause))
  )
}
