/**
 * Our own `HttpServer` over `node:http`, in place of `NodeHttpServer.layer`: it listens, and serves an app with
 * the listeners of NodeHandler.ts instead of the platform's per-request wrapping (see there for why). The node
 * server is closed by the layer's scope: it stops accepting, idle keep-alive connections are closed, and requests
 * in flight end before the scope does.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { HttpServer, HttpServerError } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, type Scope } from "effect"
import type * as AccessLog from "./AccessLog.js"
import type { Dispatch } from "./ApiRoutes.js"
import { makeHandlers } from "./NodeHandler.js"
import type { SecurityOptions } from "./Security.js"

export interface NodeServerOptions {
  readonly port: number
  readonly host: string
  readonly security: SecurityOptions
  /** Where access log lines go; undefined turns the access log off. */
  readonly accessLog: AccessLog.AccessLogSink | undefined
}

/** Serves a dispatch table (ApiRoutes.ts) on the node server, for as long as the calling scope is open. */
export class Listener extends Context.Tag("Http/NodeServer/Listener")<
  Listener,
  {
    /** `serverServices`: see `makeHandlers` (true for a plain HttpApp, whose requirements come from the server's). */
    readonly attach: (dispatch: Dispatch, serverServices?: boolean) => Effect.Effect<void, never, Scope.Scope>
  }
>() {}

const make = (
  options: NodeServerOptions
): Effect.Effect<Context.Context<HttpServer.HttpServer | Listener>, HttpServerError.ServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* Effect.acquireRelease(
      Effect.sync(() => createServer({ keepAliveTimeout: 5_000 })),
      (server) =>
        Effect.async<void>((resume) => {
          if (!server.listening) return resume(Effect.void)
          server.close(() => resume(Effect.void))
          server.closeIdleConnections()
        })
    )
    yield* Effect.async<void, HttpServerError.ServeError>((resume) => {
      const onError = (cause: Error) => resume(Effect.fail(new HttpServerError.ServeError({ cause })))
      server.once("error", onError)
      server.listen(options.port, options.host, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
    })
    const address = server.address() as AddressInfo
    yield* Effect.addFinalizer(() => Effect.sync(() => options.accessLog?.flush()))
    const attach = (dispatch: Dispatch, serverServices = false) =>
      Effect.gen(function* () {
        const handlers = yield* makeHandlers(options, dispatch, serverServices)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            server.off("request", handlers.request)
            server.off("clientError", handlers.clientError)
          })
        )
        server.on("request", handlers.request)
        server.on("clientError", handlers.clientError)
      })
    const http = HttpServer.make({
      address: { _tag: "TcpAddress", hostname: address.address, port: address.port },
      // A plain HttpApp (not an HttpApi): one "route" that is the whole app.
      serve: (app, middleware) => {
        const whole = {
          app: middleware === undefined ? app : middleware(app),
          route: undefined,
          params: {},
          searchParams: {}
        }
        return attach(() => whole, true)
      }
    })
    return Context.make(HttpServer.HttpServer, http).pipe(Context.add(Listener, { attach }))
  })

export const layer = (
  options: NodeServerOptions
): Layer.Layer<
  HttpServer.HttpServer | Listener | Layer.Layer.Success<typeof NodeHttpServer.layerContext>,
  HttpServerError.ServeError
> => Layer.merge(Layer.scopedContext(make(options)), NodeHttpServer.layerContext)
