/**
 * Our HttpServer (src/Http/NodeServer.ts) serving a plain HttpApp through the platform's `HttpServer.serve`: the
 * app's requirements are provided to the serve layer and must reach its request fibers (decisions D16: only an
 * HttpApi's routes run with the request's own services alone). Real node server on a random port, real fetch.
 */
import { HttpServer, HttpServerResponse } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as NodeServer from "../../src/Http/NodeServer.js"

class Greeting extends Context.Tag("test/Greeting")<Greeting, { readonly text: string }>() {}

const app = Effect.map(Greeting, (g) => HttpServerResponse.unsafeJson({ greeting: g.text }))

const Served = HttpServer.serve(app).pipe(
  Layer.provide(Layer.succeed(Greeting, { text: "hello from the server's services" })),
  Layer.provideMerge(
    NodeServer.layer({
      port: 0,
      host: "127.0.0.1",
      security: {
        corsOrigins: [],
        hstsMaxAgeSeconds: Option.none(),
        maxBodyBytes: 1024,
        maxJsonBodyBytes: 1024,
        discardMaxBytes: 1024 * 1024,
        discardMaxMs: 1_000,
        requestTimeoutMs: 5_000,
        exposeStack: false
      },
      accessLog: undefined
    })
  )
)

layer(Served, { timeout: 30_000 })("NodeServer, plain HttpApp", (it) => {
  it.effect("a service provided to the serve layer is there at request time; the answer has an id and headers", () =>
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      const res = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/anything`))
      expect(res.status).toBe(200)
      expect(yield* Effect.promise(() => res.json())).toEqual({ greeting: "hello from the server's services" })
      expect(res.headers.get("x-request-id")).toMatch(/^API-/)
      expect(res.headers.get("x-content-type-options")).toBe("nosniff")
    })
  )
})
