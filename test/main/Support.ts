/**
 * Runs `src/main.ts` as a real child process and reads its JSON log lines, for the role and shutdown tests.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { Deferred, Effect, Schedule } from "effect"

export interface MainProcess {
  readonly child: ChildProcess
  readonly lines: Array<Record<string, unknown>>
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Effect.Effect<number | string>
  /** Waits for a log line matching `predicate`. */
  readonly line: (predicate: (line: Record<string, unknown>) => boolean) => Effect.Effect<Record<string, unknown>>
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** Spawns `node --import tsx src/main.ts ...args`; killed with SIGKILL when the scope closes, if still running. */
export const spawnMain = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.gen(function* () {
    const exit = yield* Deferred.make<number | string>()
    const lines: Array<Record<string, unknown>> = []
    const stderr: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
          env: { ...process.env, LOG_LEVEL: "INFO", ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (c) => Effect.sync(() => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL"))
    )
    let buffer = ""
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      const parts = buffer.split("\n")
      buffer = parts.pop() ?? ""
      for (const part of parts) {
        try {
          lines.push(JSON.parse(part) as Record<string, unknown>)
        } catch {
          lines.push({ raw: part })
        }
      }
    })
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString()))
    child.on("exit", (code, signal) => Deferred.unsafeDone(exit, Effect.succeed(code ?? signal ?? "unknown")))
    const line = (predicate: (l: Record<string, unknown>) => boolean) =>
      Effect.suspend(() => {
        const found = lines.find(predicate)
        if (found !== undefined) return Effect.succeed(found)
        if (child.exitCode !== null || child.signalCode !== null) {
          return Effect.dieMessage(`main exited before the expected log line; stderr: ${stderr.join("")}`)
        }
        return Effect.fail("not yet")
      }).pipe(Effect.retry(Schedule.spaced("50 millis")), Effect.timeout("90 seconds"), Effect.orDie)
    return { child, lines, exited: Deferred.await(exit), line } satisfies MainProcess
  })
