/**
 * Fixtures for the outbound tests: real HTTP receivers on loopback, an observer of every TCP connection attempt
 * this process starts (node's `net.client.socket` diagnostics channel, no hook in the code under test), and contexts.
 */
import dc from "node:diagnostics_channel"
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { Effect, type Scope } from "effect"
import {
  makeId,
  type OrganizationId,
  type ProjectId,
  RequestContext,
  type RequestContextData,
  type UserId
} from "../../src/RequestContext.js"

export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export type Reply = { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }

/** `hang` never answers (the request stays open until the client gives up). */
export type Script = (request: Received, index: number) => Reply | "hang"

export interface Receiver {
  readonly port: number
  readonly url: (path?: string) => string
  readonly received: ReadonlyArray<Received>
  /** Connections accepted and not closed yet (an aborted request's socket is closed by the client). */
  readonly openSockets: () => number
  readonly acceptedSockets: () => number
}

export const receiver = (
  script: Script = () => ({ status: 200, body: "ok" })
): Effect.Effect<Receiver, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Receiver & { readonly close: () => Promise<void> }>((resume) => {
      const received: Array<Received> = []
      let opened = 0
      let closed = 0
      const server = createServer((req, res: ServerResponse) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const request = {
            method: req.method ?? "",
            path: req.url ?? "",
            headers: req.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }
          received.push(request)
          const reply = script(request, received.length - 1)
          if (reply === "hang") return
          res.writeHead(reply.status, reply.headers ?? {})
          res.end(reply.body ?? "")
        })
      })
      server.on("connection", (socket: Socket) => {
        opened += 1
        socket.on("close", () => (closed += 1))
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(
          Effect.succeed({
            port,
            url: (path = "/hook") => `http://127.0.0.1:${port}${path}`,
            received,
            openSockets: () => opened - closed,
            acceptedSockets: () => opened,
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections()
                server.close(() => done())
              })
          })
        )
      })
    }),
    (r) => Effect.promise(r.close)
  )

export interface Attempt {
  readonly ip: string
  readonly port: number
}

/** Records the address of every TCP connection attempt made by this process while the scope is open. */
export const connectionAttempts: Effect.Effect<ReadonlyArray<Attempt>, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const attempts: Array<Attempt> = []
    const onSocket = (message: unknown) => {
      const { socket } = message as { readonly socket: Socket }
      socket.on("connectionAttempt", (ip: string, port: number) => attempts.push({ ip, port }))
    }
    dc.subscribe("net.client.socket", onSocket)
    return { attempts, unsubscribe: () => dc.unsubscribe("net.client.socket", onSocket) }
  }),
  ({ unsubscribe }) => Effect.sync(unsubscribe)
).pipe(Effect.map(({ attempts }) => attempts))

export const PARENT_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

export const contextFor = (overrides: Partial<RequestContextData> = {}): RequestContextData => ({
  ...RequestContext.make({
    origin: "job",
    actor: { _tag: "user", userId: makeId("usr") as UserId },
    organizationId: makeId("org") as OrganizationId,
    projectId: makeId("prj") as ProjectId,
    traceparent: PARENT_TRACEPARENT
  }),
  ...overrides
})

export const traceIdOf = (traceparent: string): string => traceparent.split("-")[1] ?? ""
export const spanIdOf = (traceparent: string): string => traceparent.split("-")[2] ?? ""
