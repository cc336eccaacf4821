/**
 * The outbound client against real loopback receivers: the headers every call carries, per-call context, timeouts.
 */
import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:https"
import type { TLSSocket } from "node:tls"
import { HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Outbound, type OutboundOptions } from "../../src/Http/Outbound.js"
import { RequestContext, type RequestContextData, Traceparent } from "../../src/RequestContext.js"
import { contextFor, PARENT_TRACEPARENT, receiver, spanIdOf, traceIdOf } from "./OutboundSupport.js"

const local: OutboundOptions = { allowPrivate: true, timeoutMs: 5_000 }
const version = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")
const tlsCert = fixture("outbound-tls.crt")

interface TlsSeen {
  readonly servername: string
  readonly host: string
}

/** An HTTPS receiver on loopback with a self-signed certificate for `hooks.tls.test` only. */
const tlsReceiver = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly seen: Array<TlsSeen>; readonly server: Server }>((resume) => {
    const seen: Array<TlsSeen> = []
    const server = createServer({ key: fixture("outbound-tls.key"), cert: tlsCert }, (req, res) => {
      const socket = req.socket as TLSSocket & { readonly servername?: string | false }
      seen.push({ servername: String(socket.servername), host: String(req.headers.host) })
      res.end("ok")
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ port, seen, server }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const get = (url: string, ctx: RequestContextData, headers: Record<string, string> = {}) =>
  Effect.flatMap(Outbound, (client) =>
    client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers)))
  ).pipe(RequestContext.withContext(ctx))

describe("Outbound client", () => {
  it.scopedLive("every call carries the context's X-Request-Id, a child traceparent and the User-Agent", () =>
    Effect.gen(function* () {
      const r = yield* receiver()
      const ctx = contextFor()
      const response = yield* get(r.url(), ctx)
      expect(response.status).toBe(200)
      const [seen] = r.received
      expect(seen!.headers["x-request-id"]).toBe(ctx.requestId)
      const traceparent = String(seen!.headers.traceparent)
      expect(Traceparent.isValid(traceparent)).toBe(true)
      expect(traceIdOf(traceparent)).toBe(traceIdOf(PARENT_TRACEPARENT))
      expect(spanIdOf(traceparent)).not.toBe(spanIdOf(PARENT_TRACEPARENT))
      expect(seen!.headers["user-agent"]).toBe(`Threadline/${version}`)
      expect(seen!.headers.host).toBe(`127.0.0.1:${r.port}`)
      // The platform's own span propagation is off: no second, unrelated trace on the wire.
      expect(seen!.headers.b3).toBeUndefined()
    }).pipe(Effect.provide(Outbound.layerWith(local)))
  )

  it.scopedLive("a context without a traceparent gets a fresh, valid trace", () =>
    Effect.gen(function* () {
      const r = yield* receiver()
      const { traceparent: _, ...withoutTrace } = contextFor()
      yield* get(r.url(), withoutTrace)
      const traceparent = String(r.received[0]!.headers.traceparent)
      expect(Traceparent.isValid(traceparent)).toBe(true)
      expect(traceIdOf(traceparent)).not.toBe(traceIdOf(PARENT_TRACEPARENT))
    }).pipe(Effect.provide(Outbound.layerWith(local)))
  )

  it.scopedLive("concurrent calls under different contexts each carry their own ids; a caller cannot forge them", () =>
    Effect.gen(function* () {
      const r = yield* receiver()
      const contexts = Array.from({ length: 40 }, (_, i) =>
        contextFor({ traceparent: `00-${String(i + 1).padStart(32, "a")}-00f067aa0ba902b7-01` })
      )
      yield* Effect.forEach(
        contexts,
        (ctx) => get(r.url(), ctx, { "x-expect": `${ctx.requestId} ${ctx.traceparent}`, "x-request-id": "forged" }),
        { concurrency: "unbounded" }
      )
      expect(r.received).toHaveLength(40)
      for (const seen of r.received) {
        const [requestId, traceparent] = String(seen.headers["x-expect"]).split(" ")
        expect(seen.headers["x-request-id"]).toBe(requestId)
        expect(traceIdOf(String(seen.headers.traceparent))).toBe(traceIdOf(traceparent!))
      }
    }).pipe(Effect.provide(Outbound.layerWith(local)))
  )

  it.scopedLive("a receiver that never answers: OutboundTimeout, and the request's socket is closed", () =>
    Effect.gen(function* () {
      const r = yield* receiver(() => "hang")
      const result = yield* Effect.either(get(r.url(), contextFor()))
      expect(Either.isLeft(result) && result.left._tag).toBe("OutboundTimeout")
      expect(Either.isLeft(result) && result.left.message).toBe(
        `no response from http://127.0.0.1:${r.port} within 300 ms`
      )
      expect(r.received).toHaveLength(1)
      // Interrupting the request aborts it: the receiver sees its connection go away, none is left open.
      expect(r.acceptedSockets()).toBeGreaterThan(0)
      yield* Effect.promise(async () => {
        for (let i = 0; i < 100 && r.openSockets() > 0; i++) await new Promise((f) => setTimeout(f, 20))
      })
      expect(r.openSockets()).toBe(0)
    }).pipe(Effect.provide(Outbound.layerWith({ allowPrivate: true, timeoutMs: 300 })))
  )

  it.scopedLive("only http and https URLs are sent", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(get("ftp://127.0.0.1/file", contextFor()))
      expect(Either.isLeft(result) && result.left._tag).toBe("DestinationRefused")
      expect(Either.isLeft(result) && result.left.message).toContain("scheme ftp: not allowed")
    }).pipe(Effect.provide(Outbound.layerWith(local)))
  )

  it.scopedLive("https: dials the checked address, keeps the name for SNI, Host and the certificate check", () =>
    Effect.gen(function* () {
      const r = yield* tlsReceiver
      const ok = yield* Effect.either(get(`https://hooks.tls.test:${r.port}/hook`, contextFor()))
      expect(Either.isRight(ok) && ok.right.status).toBe(200)
      expect(r.seen).toEqual([{ servername: "hooks.tls.test", host: `hooks.tls.test:${r.port}` }])
      // Same address, another name: the certificate is checked against the name, so this fails.
      const wrong = yield* Effect.either(get(`https://other.tls.test:${r.port}/hook`, contextFor()))
      expect(Either.isLeft(wrong) && wrong.left._tag).toBe("RequestError")
      const cause = Either.isLeft(wrong) && wrong.left._tag === "RequestError" ? wrong.left.cause : undefined
      expect((cause as { code?: string } | undefined)?.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID")
      expect(r.seen).toHaveLength(1)
    }).pipe(
      Effect.provide(
        Outbound.layerWith({
          ...local,
          ca: [tlsCert],
          resolver: async () => [{ address: "127.0.0.1", family: 4 }]
        })
      )
    )
  )
})
