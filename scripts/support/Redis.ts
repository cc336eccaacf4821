/**
 * A local `redis-server` for development and tests, on a free loopback port. Installed from Debian's package when
 * it is missing and we may (root with apt-get); otherwise we stop with the command to run. Persistent instances
 * record {pid, port} in their directory so the next run reuses a server that is still up.
 */
import { spawn } from "node:child_process"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Deferred, Effect, Exit, Option, Schedule } from "effect"
import { withFileLock } from "./Lock.js"
import { freePort, redisAnswers } from "./Network.js"
import { exec, isAlive, isRoot, ScriptError, which } from "./Process.js"

export interface RedisOptions {
  /** Working directory of the server (dump file, log, state). */
  readonly dir: string
  /** Throwaway servers never write to disk and are never reused. */
  readonly throwaway: boolean
  /** Where to look for redis-server and apt-get (PATH). */
  readonly env: NodeJS.ProcessEnv
  readonly log: (line: string) => void
}

export interface RedisInstance {
  readonly url: string
  readonly port: number
  readonly origin: "started" | "reused"
}

export const INSTALL_COMMAND = "apt-get update && apt-get install -y redis-server"

/** Debian installs to /usr/bin; looked at after an install in case PATH is unusual. */
const AFTER_INSTALL = ["/usr/bin", "/usr/local/bin", "/usr/sbin"]

const redisServer = (options: RedisOptions) =>
  Effect.gen(function* () {
    const found = which("redis-server", options.env)
    if (Option.isSome(found)) return found.value
    const aptGet = which("apt-get", options.env)
    if (!isRoot() || Option.isNone(aptGet)) {
      const sudo = isRoot() ? "" : "sudo "
      return yield* new ScriptError({
        message:
          `redis-server was not found on PATH. Install it with:\n  ${sudo}apt-get update && ${sudo}apt-get install -y redis-server\n` +
          "or set REDIS_URL to a running Redis (7 or newer)."
      })
    }
    options.log(`redis-server is missing; running: ${INSTALL_COMMAND}`)
    const env = { ...options.env, DEBIAN_FRONTEND: "noninteractive" }
    // Uninterruptible: a killed dpkg leaves the package database locked.
    yield* Effect.uninterruptible(
      exec(aptGet.value, ["update"], { env }).pipe(
        Effect.zipRight(exec(aptGet.value, ["install", "-y", "redis-server"], { env }))
      )
    )
    return yield* Option.match(which("redis-server", options.env, AFTER_INSTALL), {
      onNone: () => Effect.fail(new ScriptError({ message: "apt-get installed redis-server but it is not on PATH" })),
      onSome: Effect.succeed
    })
  })

const stateFile = (dir: string) => join(dir, "server.json")

const readState = (dir: string) =>
  Effect.promise(() =>
    readFile(stateFile(dir), "utf8").then(
      (t) => Option.some(JSON.parse(t) as { pid: number; port: number }),
      () => Option.none()
    )
  )

const launch = (binary: string, options: RedisOptions) =>
  Effect.gen(function* () {
    for (let attempt = 1; ; attempt++) {
      const port = yield* freePort
      const persistence = options.throwaway
        ? ["--save", "", "--appendonly", "no"]
        : ["--appendonly", "no", "--dbfilename", "dump.rdb"]
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--daemonize", "no", "--dir", options.dir]
      const logfile = join(options.dir, "redis.log")
      const exited = yield* Deferred.make<number | string>()
      // Detached: a terminal Ctrl-C goes to our process group only; we stop Redis ourselves, after the app.
      const child = spawn(binary, [...args, ...persistence, "--logfile", logfile], { detached: true, stdio: "ignore" })
      child.on("exit", (code, signal) => Deferred.unsafeDone(exited, Exit.succeed(code ?? signal ?? "?")))
      child.on("error", (e) => Deferred.unsafeDone(exited, Exit.succeed(e.message)))
      child.unref()
      const ready = yield* redisAnswers(port).pipe(
        Effect.filterOrFail(
          (ok) => ok,
          () => "not yet"
        ),
        Effect.retry({
          schedule: Schedule.spaced("50 millis"),
          times: 200,
          while: () => child.exitCode === null && child.signalCode === null
        }),
        Effect.orElseSucceed(() => false)
      )
      if (ready && child.pid !== undefined) return { port, pid: child.pid, exited }
      const tail = yield* Effect.promise(() => readFile(logfile, "utf8").catch(() => ""))
      child.kill("SIGKILL")
      if (attempt < 3 && tail.includes("Address already in use")) continue
      return yield* new ScriptError({
        message: `redis-server did not start on port ${port}:\n${tail.trim().split("\n").slice(-10).join("\n")}`
      })
    }
  })

/** SIGTERM (Redis saves its dump when persistence is on), then SIGKILL if it is still up after 30 s. */
const stop = (pid: number, exited: Deferred.Deferred<number | string>) =>
  Effect.sync(() => isAlive(pid) && process.kill(pid, "SIGTERM")).pipe(
    Effect.zipRight(Deferred.await(exited).pipe(Effect.timeout("30 seconds"))),
    Effect.catchAll(() => Effect.sync(() => isAlive(pid) && process.kill(pid, "SIGKILL"))),
    Effect.asVoid
  )

const start = (options: RedisOptions) =>
  Effect.gen(function* () {
    const binary = yield* redisServer(options)
    const { port, pid } = yield* Effect.acquireRelease(launch(binary, options), ({ pid, port, exited }) =>
      stop(pid, exited).pipe(
        Effect.zipRight(Effect.promise(() => rm(stateFile(options.dir), { force: true }))),
        Effect.tap(() => options.log(`stopped Redis on port ${port}`))
      )
    )
    const hook = () => {
      if (isAlive(pid)) process.kill(pid, "SIGTERM")
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("exit", hook)),
      () => Effect.sync(() => process.off("exit", hook))
    )
    if (!options.throwaway) {
      yield* Effect.promise(() => writeFile(stateFile(options.dir), JSON.stringify({ pid, port })))
    }
    options.log(
      `started redis-server on 127.0.0.1:${port} (${options.throwaway ? "no persistence" : `data ${options.dir}`})`
    )
    return { url: `redis://127.0.0.1:${port}`, port, origin: "started" } satisfies RedisInstance
  })

const reuseOrStart = (options: RedisOptions) =>
  Effect.gen(function* () {
    const state = yield* readState(options.dir)
    if (Option.isSome(state) && isAlive(state.value.pid) && (yield* redisAnswers(state.value.port))) {
      const { port } = state.value
      options.log(`reusing the redis-server already running on ${options.dir} (port ${port}); it stays running`)
      return { url: `redis://127.0.0.1:${port}`, port, origin: "reused" } satisfies RedisInstance
    }
    return yield* start(options)
  })

export const ensureRedis = (options: RedisOptions) =>
  Effect.gen(function* () {
    yield* Effect.promise(() => mkdir(options.dir, { recursive: true }))
    return yield* options.throwaway ? start(options) : withFileLock(`${options.dir}.lock`, reuseOrStart(options))
  })
