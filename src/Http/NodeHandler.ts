/**
 * The node listeners that serve an HttpApp. What a request costs around the app (docs/performance.md, "HTTP
 * platform"), and why it is wired this way rather than through `NodeHttpServer.makeHandler`:
 * - the fiber starts with its Context built in one step (request + state + span + scope; see below) and
 *   its request id already in its FiberRefs, instead of a chain of provideService / locally copies;
 * - the request's Scope is made only if something uses it (RequestScope.ts);
 * - no per-request tracer middleware (URL parsing, header redaction, span attributes): the request's span is a
 *   small RequestSpan continuing its traceparent, on which the router records the route template;
 * - the response is written synchronously at the end of the fiber, not after suspending it on node's callback;
 * - timeouts are one sweep over the requests in flight, not a timer per request;
 * - answers that need no handler (CORS preflight, 413 by Content-Length, 415, requests node's parser refuses) are
 *   given before any fiber exists, with the same headers, id and access log line as every other answer.
 * A request still running at its deadline is answered 503 `RequestTimeout` and interrupted; one whose client went
 * away is interrupted.
 *
 * The request fiber's Context holds the request's own services only (request, search params, route, RequestState,
 * Scope, parent span), not a copy of the server's: everything a route needs besides them comes from the layers
 * that built it — `HttpApiBuilder.group` merges its group's Context into every handler's, and middleware captures
 * its services when its layer is built (their per-request effects are typed to need only the request's services).
 * Each `provideService` on the request path (the RequestContext from authentication, the rate-limit step, the
 * group merge) copies the fiber's Context: with ~50 server services in it, those copies and their garbage were a
 * tenth of an authenticated request's CPU (docs/performance.md). Nothing here serves files (which would need the
 * platform's FileSystem/HttpPlatform from the server's Context).
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import {
  HttpApp,
  HttpRouter,
  type HttpServerError,
  HttpServerRequest,
  HttpServerRespondable as Respondable,
  HttpServerResponse
} from "@effect/platform"
import { clientAbortFiberId } from "@effect/platform/HttpServerError"
import {
  Cause,
  Context,
  Effect,
  ExecutionStrategy,
  Exit,
  FiberId,
  FiberRefs,
  type Fiber,
  Option,
  Runtime,
  RuntimeFlags,
  Scope,
  Tracer
} from "effect"
import * as AccessLog from "./AccessLog.js"
import type { Dispatch, Matched } from "./ApiRoutes.js"
import { logFailure, recover } from "./ErrorPipeline.js"
import { errorJson } from "./Errors.js"
import { NodeRequest } from "./NodeRequest.js"
import { makeWriter } from "./NodeResponse.js"
import * as RequestId from "./RequestId.js"
import { RequestScope } from "./RequestScope.js"
import { RequestSpan } from "./RequestSpan.js"
import { RequestState, RequestStateData } from "./RequestState.js"
import { acceptsContentType, bodyLimitFor, makeSecurity, type SecurityOptions } from "./Security.js"

const routeContext = (
  route: HttpRouter.Route<unknown, unknown>,
  params: Readonly<Record<string, string | undefined>>
): HttpRouter.RouteContext => ({ [HttpRouter.RouteContextTypeId]: HttpRouter.RouteContextTypeId, route, params })

/** The url a route mounted under `prefix` sees (as the platform's router does). */
const sliceUrl = (url: string, prefix: string) => {
  const rest = url.slice(prefix.length)
  return rest === "" || rest.startsWith("?") ? `/${rest}` : rest
}

const hasBody = (req: IncomingMessage) =>
  req.headers["transfer-encoding"] !== undefined ||
  (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0")

export interface HandlerOptions {
  readonly security: SecurityOptions
  readonly accessLog: AccessLog.AccessLogSink | undefined
}

interface InFlight {
  readonly deadline: number
  readonly expire: () => void
}

/** The node `request` and `clientError` listeners serving `dispatch`'s routes on the current runtime. */
/**
 * `serverServices`: also give every request fiber the services of the runtime this is made in. For a plain HttpApp
 * served through `HttpServer.serve` (its requirements are provided to that layer, there is no group Context to
 * merge); an HttpApi's routes (ApiRoutes.ts) need only the request's own.
 */
export const makeHandlers = (options: HandlerOptions, dispatch: Dispatch, serverServices = false) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    /** Request fibers skip Effect's per-fiber metrics (on by default in 3.22); nothing reads or exports them. */
    const runtimeFlags = RuntimeFlags.disable(runtime.runtimeFlags, RuntimeFlags.RuntimeMetrics)
    const security = makeSecurity(options.security)
    const writer = makeWriter(security, options.accessLog, {
      maxBytes: options.security.discardMaxBytes,
      maxMs: options.security.discardMaxMs
    })
    const { requestTimeoutMs, exposeStack } = options.security

    const inFlight = new Set<InFlight>()
    const sweep = setInterval(
      () => {
        const now = performance.now()
        for (const entry of inFlight) if (entry.deadline <= now) entry.expire()
      },
      Math.max(10, Math.min(1_000, Math.floor(requestTimeoutMs / 4)))
    ).unref()
    yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(sweep)))

    /** Write an answer: after any pre-response handlers (cookies set by login), as the last step of the fiber. */
    const answer = (
      request: NodeRequest,
      state: RequestStateData,
      response: HttpServerResponse.HttpServerResponse
    ): Effect.Effect<void, HttpServerError.ResponseError> =>
      Effect.withFiberRuntime((fiber) => {
        const handler = fiber.getFiberRef(HttpApp.currentPreResponseHandlers)
        return handler._tag === "None"
          ? writer.respond(request.source, request.response, state, response)
          : Effect.flatMap(handler.value(request, response), (r) =>
              writer.respond(request.source, request.response, state, r)
            )
      })

    /** The route's app, then the answer; whatever escapes the app's own error handling still gets the JSON body. */
    const program = (app: Matched["app"], request: NodeRequest, state: RequestStateData) =>
      app.pipe(
        Effect.flatMap((out) =>
          HttpServerResponse.isServerResponse(out)
            ? answer(request, state, out)
            : Effect.flatMap(Respondable.toResponse(out as Respondable.Respondable), (r) => answer(request, state, r))
        ),
        Effect.catchAllCause((cause) =>
          Effect.flatMap(recover(cause, state.requestId, exposeStack, state.context), (response) =>
            writer.respond(request.source, request.response, state, response)
          )
        )
      )

    const request = (req: IncomingMessage, res: ServerResponse) => {
      const startedAt = performance.now()
      const state = new RequestStateData(
        RequestId.fromHeader(req.headers["x-request-id"]),
        RequestId.traceparentFor(req.headers.traceparent),
        startedAt
      )
      if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
        const headers = { ...security.baseHeaders, ...security.preflight(req.headers.origin) }
        return writer.write(req, res, state, 204, headers, undefined)
      }
      // ingestion routes take large bodies, every other route small JSON ones: refused by length before reading
      const maxBodyBytes = bodyLimitFor(options.security, req.url ?? "/")
      if (Number(req.headers["content-length"] ?? 0) > maxBodyBytes) {
        res.shouldKeepAlive = false
        const message = `request body larger than ${maxBodyBytes} bytes`
        return writer.error(req, res, state, 413, "PayloadTooLarge", message, { connection: "close" })
      }
      if (hasBody(req) && !acceptsContentType(req.headers["content-type"])) {
        return writer.error(req, res, state, 415, "UnsupportedMediaType", "unsupported content type")
      }
      const matched = dispatch(req.method ?? "GET", req.url ?? "/")
      const route = matched.route
      state.route = route?.path
      const prefix = route === undefined ? undefined : Option.getOrUndefined(route.prefix)
      const request = new NodeRequest(
        req,
        res,
        maxBodyBytes,
        prefix === undefined ? req.url : sliceUrl(req.url ?? "/", prefix)
      )
      const scope = new RequestScope(ExecutionStrategy.sequential)
      // Only the request's own services (see "The request fiber's Context" above).
      const map = serverServices ? new Map(runtime.context.unsafeMap) : new Map<string, unknown>()
      const context = Context.unsafeMake<never>(map)
      map.set(HttpServerRequest.HttpServerRequest.key, request)
      map.set(HttpServerRequest.ParsedSearchParams.key, matched.searchParams)
      if (route !== undefined) map.set(HttpRouter.RouteContext.key, routeContext(route, matched.params))
      map.set(RequestState.key, state)
      map.set(Scope.Scope.key, scope)
      map.set(Tracer.ParentSpan.key, new RequestSpan(state, context, BigInt(Math.round(startedAt * 1e6))))
      const fiberRefs = FiberRefs.updateAs(runtime.fiberRefs, {
        fiberId: FiberId.none,
        fiberRef: RequestId.CurrentRequestId,
        value: Option.some(state.requestId)
      })
      const fiber: Fiber.RuntimeFiber<void, unknown> = Runtime.runFork(
        Runtime.make({ context, fiberRefs, runtimeFlags }),
        // The fiber's Context is built above: the request's own services; routes bring the rest (see the header).
        program(matched.app, request, state) as unknown as Effect.Effect<void, unknown>
      )
      const entry: InFlight = {
        deadline: startedAt + requestTimeoutMs,
        expire: () => {
          inFlight.delete(entry)
          if (!res.headersSent) {
            const message = `no answer within ${requestTimeoutMs} ms`
            writer.error(req, res, state, 503, "RequestTimeout", message, { "retry-after": "1" })
          }
          fiber.unsafeInterruptAsFork(FiberId.none)
        }
      }
      inFlight.add(entry)
      let abandoned = false
      res.once("close", () => {
        if (res.writableEnded) return
        abandoned = true
        fiber.unsafeInterruptAsFork(clientAbortFiberId)
      })
      fiber.addObserver((exit) => {
        inFlight.delete(entry)
        // Finalizers of the request's scope (rarely any) run after its fiber, not as one more step of every request.
        if (scope.used) Runtime.runFork(runtime, scope.close(exit))
        if (res.headersSent) return
        // the client went away: no answer to write, and not a server error (verify found these logged as 500)
        if (abandoned) return writer.abandoned(req, state)
        writer.error(req, res, state, 500, "InternalServerError", "Internal Server Error")
        if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
          const line = logFailure("request fiber failed", {}, exit.cause, state.requestId, state.context)
          Runtime.runFork(runtime, line)
        }
      })
    }

    /** What node's parser refuses (bad header bytes, oversized heads) still gets an id and the JSON body. */
    const clientError = (error: Error & { code?: string }, socket: Duplex) => {
      if (!socket.writable) return socket.destroy()
      const requestId = RequestId.mint()
      const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400
      const body = errorJson(status, "BadRequest", "malformed HTTP request", requestId)
      let head = `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\n`
      for (const [k, v] of Object.entries(security.baseHeaders)) head += `${k}: ${v}\r\n`
      head += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
      socket.end(`${head}x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`)
      const entry = { method: "-", route: undefined, status, durationMs: 0, requestId, context: undefined }
      options.accessLog?.write(AccessLog.format(entry, Date.now()))
    }

    return { request, clientError } as const
  })
