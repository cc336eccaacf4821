/**
 * The suite's own redis-server, with an append-only file fsynced on every write: the restart fault must show that
 * what Threadline acknowledged survives a Redis restart, which is only a fair question for a Redis configured to
 * keep data (README: run production Redis with `appendonly yes`). Restart = SIGTERM, wait, start on the same port.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdir } from "node:fs/promises"
import { createConnection, createServer } from "node:net"
import { join } from "node:path"

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const pong = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.setTimeout(500, () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", () => resolve(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.once("data", (b: Buffer) => {
      socket.destroy()
      resolve(b.toString().startsWith("+PONG"))
    })
  })

export class RedisServer {
  private child: ChildProcess | undefined
  private constructor(
    readonly port: number,
    readonly dir: string
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start(dir: string): Promise<RedisServer> {
    await mkdir(dir, { recursive: true })
    const server = new RedisServer(await freePort(), dir)
    await server.launch()
    return server
  }

  private async launch(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--save", ""]
    args.push("--appendonly", "yes", "--appendfsync", "always", "--logfile", join(this.dir, "redis.log"))
    const child = spawn("redis-server", args, { stdio: "ignore", detached: true })
    this.child = child
    for (let i = 0; i < 200; i++) {
      if (await pong(this.port)) return
      if (child.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`redis-server did not start on ${this.port} (see ${this.dir}/redis.log)`)
  }

  async stop(): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once("exit", () => r()))
    child.kill("SIGTERM")
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))])
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }

  async restart(downMs: number): Promise<void> {
    await this.stop()
    await new Promise((r) => setTimeout(r, downMs))
    await this.launch()
  }
}
