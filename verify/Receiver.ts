/**
 * The webhook destination: a plain HTTP server on loopback that records every delivery (headers and body).
 * Paths under `/fail/` answer 410 (a final 4xx: the delivery ends `failed`, which the soak then replays); paths
 * under `/slow/` answer after 4 s (a delivery in progress long enough to kill the worker under it).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http"

export interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly at: number
}

export class Receiver {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly received: Array<Received>
  ) {}

  static async start(): Promise<Receiver> {
    const received: Array<Received> = []
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const path = req.url ?? "/"
        received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() })
        res.statusCode = path.startsWith("/fail/") ? 410 : 200
        if (path.startsWith("/slow/")) setTimeout(() => res.end("ok"), 4000)
        else res.end("ok")
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return new Receiver(server, port, received)
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
