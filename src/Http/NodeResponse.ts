/**
 * Writing answers on a node response: the security and CORS headers, `X-Request-Id`, and the access log line, for
 * every answer the wiring gives (handler responses, error bodies, answers given before routing). An answer given
 * while the client is still sending its body is written whole, then the rest of the body is discarded (bounded)
 * before the connection closes: closing at once resets it, and the client loses the answer (see `discardRest`).
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { Cookies, type HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Stream } from "effect"
import * as AccessLog from "./AccessLog.js"
import { logFailure } from "./ErrorPipeline.js"
import { errorJson } from "./Errors.js"
import type { RequestStateData } from "./RequestState.js"
import type { Security } from "./Security.js"

type Headers = Record<string, string | ReadonlyArray<string>>

/**
 * Node sends the head and a string body in one `write`, but a byte body as a separate chunk through `writev`
 * (two buffers, corked): for small JSON answers that was the largest single cost of writing one (docs/performance.md).
 * Bytes viewed as a latin1 string are the same bytes, and node writes a latin1 string with the head in one go.
 */
const ONE_WRITE_MAX = 64 * 1024
const asLatin1 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")

export interface Writer {
  readonly write: (
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestStateData,
    status: number,
    headers: Headers,
    body: string | Uint8Array | undefined
  ) => void
  readonly error: (
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestStateData,
    status: number,
    name: string,
    message: string,
    extra?: Readonly<Record<string, string>>
  ) => void
  /**
   * A request whose client went away before its answer: nothing can be written; its access log line says 499
   * (the nginx convention for "client closed request"), not a server error.
   */
  readonly abandoned: (req: IncomingMessage, state: RequestStateData) => void
  /** Stream bodies are written by the fiber (back-pressure); everything else synchronously. */
  readonly respond: (
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestStateData,
    response: HttpServerResponse.HttpServerResponse
  ) => Effect.Effect<void>
}

export interface DiscardLimits {
  readonly maxBytes: number
  readonly maxMs: number
}

/**
 * Ends `res` once the rest of `req`'s body has arrived, read and thrown away (never kept), or destroys the
 * connection when more than `maxBytes` arrive or `maxMs` pass first. Node would otherwise close a `Connection:
 * close` answer's socket as soon as the answer is written, with the body still arriving: the kernel then resets the
 * connection, and a client still uploading (Node's fetch among them) fails with EPIPE/ECONNRESET instead of
 * reading the answer, which is already complete (it has a Content-Length).
 */
export const discardRest = (req: IncomingMessage, res: ServerResponse, limits: DiscardLimits): void => {
  let bytes = 0
  const stop = (drained: boolean) => {
    clearTimeout(timer)
    req.off("data", onData)
    req.off("end", onEnd)
    req.off("error", onError)
    if (drained) res.end()
    else res.destroy()
  }
  const onData = (chunk: Buffer) => {
    bytes += chunk.length
    if (bytes > limits.maxBytes) stop(false)
  }
  const onEnd = () => stop(true)
  const onError = () => stop(false)
  const timer = setTimeout(() => stop(false), limits.maxMs)
  req.on("data", onData)
  req.once("end", onEnd)
  req.once("error", onError)
  req.resume()
}

/**
 * Whether the request has a body still arriving (the answer comes before it was read whole). A request without a
 * body is not `complete` yet while its `request` event runs (answers given synchronously: preflight, 415), hence
 * the header check first: those keep their keep-alive connection.
 */
const bodyPending = (req: IncomingMessage) =>
  (req.headers["transfer-encoding"] !== undefined ||
    (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0")) &&
  !req.complete &&
  !req.readableEnded &&
  !req.destroyed

export const makeWriter = (
  security: Security,
  accessLog: AccessLog.AccessLogSink | undefined,
  discard: DiscardLimits
): Writer => {
  const log = (req: IncomingMessage, state: RequestStateData, status: number) => {
    if (accessLog === undefined) return
    const entry = {
      method: req.method ?? "GET",
      route: state.route,
      status,
      durationMs: performance.now() - state.startedAt,
      requestId: state.requestId,
      context: state.context
    }
    accessLog.write(AccessLog.format(entry, Date.now()))
  }

  const head = (
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestStateData,
    status: number,
    headers: Headers
  ) => {
    const cors = security.cors(req.headers.origin)
    const all: Headers = cors === undefined ? headers : { ...headers, ...cors }
    if (state.headers !== undefined) Object.assign(all, state.headers)
    all["x-request-id"] = state.requestId
    res.writeHead(status, all as Record<string, string | Array<string>>)
  }

  /** The answer whole (with its Content-Length), then the rest of the request's body discarded, then the close. */
  const writeBeforeBody = (
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestStateData,
    status: number,
    headers: Headers,
    body: string | Uint8Array | undefined
  ) => {
    const bytes =
      req.method === "HEAD" || body === undefined
        ? undefined
        : typeof body === "string"
          ? Buffer.from(body, "utf8")
          : body
    head(req, res, state, status, { ...headers, connection: "close", "content-length": String(bytes?.byteLength ?? 0) })
    if (bytes !== undefined) res.write(bytes)
    log(req, state, status)
    discardRest(req, res, discard)
  }

  const write: Writer["write"] = (req, res, state, status, headers, body) => {
    if (bodyPending(req)) return writeBeforeBody(req, res, state, status, headers, body)
    head(req, res, state, status, headers)
    if (req.method === "HEAD" || body === undefined) res.end()
    else if (typeof body === "string") res.end(body)
    else if (body.byteLength <= ONE_WRITE_MAX) res.end(asLatin1(body), "latin1")
    else res.end(body)
    log(req, state, status)
  }

  const error: Writer["error"] = (req, res, state, status, name, message, extra) =>
    write(
      req,
      res,
      state,
      status,
      { ...security.baseHeaders, "content-type": "application/json", ...extra },
      errorJson(status, name, message, state.requestId)
    )

  const stream = (
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestStateData,
    status: number,
    headers: Headers,
    body: Stream.Stream<Uint8Array, unknown>
  ) => {
    head(req, res, state, status, headers)
    return body.pipe(
      Stream.runForEach((chunk) =>
        res.write(chunk)
          ? Effect.void
          : Effect.async<void>((resume) => void res.once("drain", () => resume(Effect.void)))
      ),
      Effect.matchCause({
        onFailure: () => res.destroy(),
        onSuccess: () => {
          res.end()
          log(req, state, status)
        }
      })
    )
  }

  const respond: Writer["respond"] = (req, res, state, response) => {
    if (res.headersSent) return Effect.void
    const headers: Headers = { ...security.baseHeaders, ...response.headers }
    if (!Cookies.isEmpty(response.cookies)) headers["set-cookie"] = Cookies.toSetCookieHeaders(response.cookies)
    const body = response.body
    switch (body._tag) {
      case "Empty":
        write(req, res, state, response.status, headers, undefined)
        return Effect.void
      case "Uint8Array":
        write(req, res, state, response.status, headers, body.body)
        return Effect.void
      case "Raw":
        if (typeof body.body === "string" || body.body instanceof Uint8Array) {
          write(req, res, state, response.status, headers, body.body)
          return Effect.void
        }
        break
      case "Stream":
        return stream(req, res, state, response.status, headers, body.stream)
      case "FormData":
        break
    }
    error(req, res, state, 500, "InternalServerError", "Internal Server Error")
    return logFailure("unsupported response body", { body: body._tag }, Cause.empty, state.requestId, state.context)
  }

  const abandoned: Writer["abandoned"] = (req, state) => log(req, state, 499)

  return { write, error, abandoned, respond }
}
