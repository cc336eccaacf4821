/**
 * Serving an HttpApi with routing done by the server wiring, before the request's fiber starts, instead of by
 * `HttpRouter.toHttpApp` inside it. The platform's router copies the fiber's Context and then runs the route under
 * `Effect.locally` (an acquire/use/release of a FiberRef), per request; here the route is found first and its
 * RouteContext and search params go into the Context the fiber starts with (NodeHandler.ts), and the route
 * template is known for the access log without any hook. The routes and the HttpApi-level middleware (the error
 * pipeline, the docs CSP) are the ones `HttpApiBuilder.serve` would use: the same Router and Middleware services,
 * filled by the group layers, `HttpApiBuilder.middleware` and `Router.use` layers (Docs.ts).
 *
 * Not supported, and refused at start-up: middleware attached to the whole HttpApi (`HttpApi.middleware`), which
 * only `HttpApiBuilder.httpApp` knows how to apply; attach middleware to groups instead (README.md).
 */
import { HttpApi, HttpApiBuilder, type HttpApp, HttpRouter, HttpServerError, HttpServerRequest } from "@effect/platform"
import { Chunk, Effect, FiberRef, Layer } from "effect"
import * as FindMyWay from "find-my-way-ts"
import { Listener } from "./NodeServer.js"

export interface Matched {
  readonly app: HttpApp.HttpApp<unknown, unknown, unknown>
  readonly route: HttpRouter.Route<unknown, unknown> | undefined
  readonly params: Readonly<Record<string, string | undefined>>
  readonly searchParams: Readonly<Record<string, string | ReadonlyArray<string>>>
}

export type Dispatch = (method: string, url: string) => Matched

const notFoundApp = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
  Effect.fail(new HttpServerError.RouteNotFound({ request }))
)

/** The dispatch table of the current Api: every route wrapped once in the Api-level middleware. */
export const dispatchOf: Effect.Effect<
  Dispatch,
  never,
  HttpApi.Api | HttpApiBuilder.Router | HttpApiBuilder.Middleware
> = Effect.gen(function* () {
  const { api } = yield* HttpApi.Api
  if (api.middlewares.size > 0) {
    return yield* Effect.dieMessage("HttpApi-level middleware is not supported by this server; attach it to groups")
  }
  const router = yield* HttpApiBuilder.Router.router
  if (Chunk.size(router.mounts) > 0) return yield* Effect.dieMessage("mounted apps are not supported")
  const middleware = yield* (yield* HttpApiBuilder.Middleware).retrieve
  const table = FindMyWay.make<Matched["route"] & { readonly app: Matched["app"] }>(
    yield* FiberRef.get(HttpRouter.currentRouterConfig)
  )
  Chunk.forEach(router.routes, (route) => {
    const handler = route.uninterruptible ? Effect.uninterruptible(route.handler) : route.handler
    const entry = Object.assign(Object.create(route) as typeof route, {
      app: middleware(handler as HttpApp.Default) as Matched["app"]
    })
    if (route.method === "*") table.all(route.path, entry)
    else table.on(route.method, route.path, entry)
  })
  const notFound: Matched = {
    app: middleware(notFoundApp as unknown as HttpApp.Default) as Matched["app"],
    route: undefined,
    params: {},
    searchParams: {}
  }
  return (method, url) => {
    const found = table.find(method, url) ?? (method === "HEAD" ? table.find("GET", url) : undefined)
    if (found === undefined) return notFound
    return { app: found.handler.app, route: found.handler, params: found.params, searchParams: found.searchParams }
  }
})

/** Serves the current Api on the node server of NodeServer.ts; replaces `HttpApiBuilder.serve()`. */
export const serve: Layer.Layer<never, never, HttpApi.Api | Listener> = Layer.scopedDiscard(
  Effect.gen(function* () {
    const listener = yield* Listener
    const dispatch = yield* dispatchOf
    yield* listener.attach(dispatch)
  })
).pipe(Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer]))
