/**
 * Loopback helpers: a free port, and probes that tell whether something answers on one.
 */
import { createConnection, createServer } from "node:net"
import { Effect } from "effect"

/** A port that was free a moment ago; callers retry on a bind failure, since another process may take it first. */
export const freePort = Effect.async<number, Error>((resume) => {
  const server = createServer()
  server.once("error", (e) => resume(Effect.fail(e)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
}).pipe(Effect.orDie)

/**
 * Sends `payload` to 127.0.0.1:port and resolves with what comes back first ("" when the peer closes without
 * answering); fails when nothing listens. Used with "PING\r\n" for Redis, with "" as a plain connect probe.
 */
export const exchange = (port: number, payload: string, timeoutMs = 1000) =>
  Effect.async<string, Error>((resume) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    let done = false
    const finish = (result: Effect.Effect<string, Error>) => {
      if (done) return
      done = true
      socket.destroy()
      resume(result)
    }
    socket.setTimeout(timeoutMs, () => finish(Effect.fail(new Error(`no answer on port ${port}`))))
    socket.once("error", (e) => finish(Effect.fail(e)))
    socket.once("connect", () => {
      if (payload === "") finish(Effect.succeed(""))
      else socket.write(payload)
    })
    socket.once("data", (chunk: Buffer) => finish(Effect.succeed(chunk.toString("utf8"))))
    socket.once("end", () => finish(Effect.succeed("")))
    return Effect.sync(() => socket.destroy())
  })

/** True when a Redis server answers PING on the port. */
export const redisAnswers = (port: number) =>
  exchange(port, "PING\r\n").pipe(
    Effect.map((reply) => reply.startsWith("+PONG")),
    Effect.orElseSucceed(() => false)
  )

/** True when something accepts TCP connections on the port. */
export const portOpen = (port: number) =>
  exchange(port, "").pipe(
    Effect.as(true),
    Effect.orElseSucceed(() => false)
  )
