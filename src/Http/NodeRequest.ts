/**
 * `HttpServerRequest` over a node `IncomingMessage`, for our own server wiring (NodeServer.ts). It differs from the
 * platform's in what the wiring needs:
 * - the body is read once into chunks and joined at the end (the platform's reader concatenates on every chunk,
 *   quadratic for a 10 MiB ingest body) and is bounded by the smaller of the server's limit and the caller's
 *   `HttpIncomingMessage.MaxBodySize`; past it the read fails with a `RequestError` whose cause is
 *   `PayloadTooLarge`, which the error pipeline answers with 413;
 * - nothing is computed per request until asked for (headers are node's object, cookies parsed on first use).
 */
import {
  Cookies,
  type Headers,
  HttpIncomingMessage,
  type HttpMethod,
  HttpServerError,
  HttpServerRequest,
  UrlParams
} from "@effect/platform"
import { NodeMultipart, NodeStream } from "@effect/platform-node"
import { Effect, Inspectable, Option, type Stream } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { PayloadTooLarge } from "./Errors.js"

export class NodeRequest extends Inspectable.Class implements HttpServerRequest.HttpServerRequest {
  readonly [HttpServerRequest.TypeId]: HttpServerRequest.TypeId = HttpServerRequest.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  private cachedCookies: Record<string, string> | undefined
  private body: Uint8Array | undefined

  constructor(
    readonly source: IncomingMessage,
    /** The node response this request is answered on (the server wiring writes it). */
    readonly response: ServerResponse,
    readonly maxBodyBytes: number,
    readonly url: string = source.url ?? "/",
    private readonly headersOverride?: Headers.Headers,
    private readonly remoteAddressOverride?: string
  ) {
    super()
  }

  get originalUrl(): string {
    return this.source.url ?? "/"
  }
  get method(): HttpMethod.HttpMethod {
    return (this.source.method ?? "GET").toUpperCase() as HttpMethod.HttpMethod
  }
  get headers(): Headers.Headers {
    return this.headersOverride ?? (this.source.headers as Headers.Headers)
  }
  get cookies(): Record<string, string> {
    return (this.cachedCookies ??= Cookies.parseHeader(this.headers["cookie"] ?? ""))
  }
  get remoteAddress(): Option.Option<string> {
    return Option.fromNullable(this.remoteAddressOverride ?? this.source.socket.remoteAddress)
  }

  private fail = (cause: unknown) => new HttpServerError.RequestError({ request: this, reason: "Decode", cause })

  private readBody(limit: number): Effect.Effect<Uint8Array, HttpServerError.RequestError> {
    return Effect.async<Uint8Array, HttpServerError.RequestError>((resume) => {
      const chunks: Array<Buffer> = []
      let bytes = 0
      const source = this.source
      const onData = (chunk: Buffer) => {
        bytes += chunk.length
        if (bytes > limit) {
          cleanup()
          source.resume()
          resume(
            Effect.fail(this.fail(new PayloadTooLarge({ message: `maxBytes exceeded: body over ${limit} bytes` })))
          )
        } else chunks.push(chunk)
      }
      const onEnd = () => {
        cleanup()
        resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes)))
      }
      const onError = (error: Error) => {
        cleanup()
        resume(Effect.fail(this.fail(error)))
      }
      const cleanup = () => {
        source.off("data", onData)
        source.off("end", onEnd)
        source.off("error", onError)
      }
      source.on("data", onData)
      source.once("end", onEnd)
      source.once("error", onError)
    })
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpServerError.RequestError> {
    return Effect.map(this.bytes, (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)
  }

  /** The whole body, once; later reads get the same bytes. */
  get bytes(): Effect.Effect<Uint8Array, HttpServerError.RequestError> {
    if (this.body !== undefined) return Effect.succeed(this.body)
    return HttpIncomingMessage.MaxBodySize.pipe(
      Effect.flatMap((max) =>
        this.readBody(Option.isSome(max) ? Math.min(Number(max.value), this.maxBodyBytes) : this.maxBodyBytes)
      ),
      Effect.tap((b) => Effect.sync(() => (this.body = b)))
    )
  }
  get text(): Effect.Effect<string, HttpServerError.RequestError> {
    return Effect.map(this.bytes, (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8"))
  }
  get json(): Effect.Effect<unknown, HttpServerError.RequestError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({ try: (): unknown => (text === "" ? null : JSON.parse(text)), catch: this.fail })
    )
  }
  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpServerError.RequestError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({ try: () => UrlParams.fromInput(new URLSearchParams(text)), catch: this.fail })
    )
  }
  get stream(): Stream.Stream<Uint8Array, HttpServerError.RequestError> {
    return NodeStream.fromReadable<HttpServerError.RequestError, Uint8Array>(() => this.source, this.fail)
  }
  get multipart() {
    return NodeMultipart.persisted(this.source, this.source.headers)
  }
  get multipartStream() {
    return NodeMultipart.stream(this.source, this.source.headers)
  }
  get upgrade(): Effect.Effect<never, HttpServerError.RequestError> {
    return Effect.fail(this.fail("this server does not upgrade connections"))
  }

  modify(options: { readonly url?: string; readonly headers?: Headers.Headers; readonly remoteAddress?: string }) {
    return new NodeRequest(
      this.source,
      this.response,
      this.maxBodyBytes,
      options.url ?? this.url,
      options.headers ?? this.headersOverride,
      options.remoteAddress ?? this.remoteAddressOverride
    )
  }

  toJSON(): unknown {
    return { _id: "NodeRequest", method: this.method, url: this.originalUrl }
  }
}
