/**
 * `npm start` end to end, as a developer runs it: no DATABASE_URL / REDIS_URL, so scripts/start.ts brings up the
 * embedded services, runs the app against them, forwards SIGTERM to it once, and stops the services after it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Schedule } from "effect"
import { spawn } from "node:child_process"
import { chmod, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, portOpen } from "../../scripts/support/Network.js"

const { DATABASE_URL: _db, REDIS_URL: _redis, ...inherited } = process.env

describe("scripts/start.ts", () => {
  it.scopedLive(
    "serves /health on embedded services; SIGTERM shuts the app down gracefully, then the services",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const dir = await mkdtemp(join(tmpdir(), "threadline-start-test-"))
            await chmod(dir, 0o755)
            return dir
          }),
          (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
        )
        const port = yield* freePort
        const exited = yield* Deferred.make<number | string>()
        let stdout = ""
        let stderr = ""
        const child = yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", "serve", "--roles", "api"], {
              env: {
                ...inherited,
                THREADLINE_DATA_DIR: dataDir,
                PORT: String(port),
                HOST: "127.0.0.1",
                LOG_LEVEL: "Info"
              },
              stdio: ["ignore", "pipe", "pipe"]
            })
          ),
          (c) => Effect.sync(() => c.exitCode === null && c.kill("SIGKILL"))
        )
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.on("exit", (code, signal) => Deferred.unsafeDone(exited, Exit.succeed(code ?? signal ?? "?")))

        const health = yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/health`)).pipe(
          Effect.filterOrFail((r) => r.ok),
          Effect.retry({ schedule: Schedule.spaced("250 millis"), while: () => child.exitCode === null }),
          Effect.timeout("90 seconds"),
          Effect.catchAll((e) => Effect.dieMessage(`no /health: ${String(e)}\n${stderr}\n${stdout}`))
        )
        expect(health.status).toBe(200)
        const urls = /DATABASE_URL=(\S+) REDIS_URL=(\S+)/.exec(stderr)
        expect(urls).not.toBeNull()
        const [dbPort, redisPort] = [new URL(urls?.[1] ?? "").port, new URL(urls?.[2] ?? "").port].map(Number)

        child.kill("SIGTERM")
        expect(yield* Deferred.await(exited).pipe(Effect.timeout("60 seconds"))).toBe(0)
        expect(stdout).toContain("threadline shutting down")
        expect(stderr).toContain("stopped PostgreSQL")
        expect(stderr).toContain("stopped Redis")
        expect(yield* portOpen(port)).toBe(false)
        expect(yield* portOpen(dbPort ?? 0)).toBe(false)
        expect(yield* portOpen(redisPort ?? 0)).toBe(false)
      }),
    120_000
  )

  it.live(
    "prints the service URLs it uses without their passwords (the operator's own URLs as well)",
    () =>
      Effect.gen(function* () {
        const ran = yield* Effect.promise(
          () =>
            new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
              // nothing listens on port 1: the app fails to migrate at once, after the script printed the URLs
              const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", "migrate"], {
                env: {
                  PATH: process.env.PATH ?? "",
                  HOME: process.env.HOME ?? "",
                  DATABASE_URL: "postgres://threadline_app:app-s3cret@127.0.0.1:1/threadline",
                  DATABASE_OWNER_URL: "postgres://postgres:owner-s3cret@127.0.0.1:1/threadline?sslmode=disable",
                  REDIS_URL: "redis://:redis-s3cret@127.0.0.1:1/0"
                },
                stdio: ["ignore", "pipe", "pipe"]
              })
              let out = ""
              let err = ""
              child.stdout.on("data", (c: Buffer) => (out += c.toString()))
              child.stderr.on("data", (c: Buffer) => (err += c.toString()))
              child.on("error", reject)
              child.on("exit", (code) => resolve({ code, out, err }))
            })
        )
        expect(ran.err).toContain(
          "[services] DATABASE_URL=postgres://threadline_app@127.0.0.1:1/threadline REDIS_URL=redis://127.0.0.1:1/0 " +
            "DATABASE_OWNER_URL=postgres://postgres@127.0.0.1:1/threadline"
        )
        for (const secret of ["app-s3cret", "owner-s3cret", "redis-s3cret"]) {
          expect(ran.err + ran.out).not.toContain(secret)
        }
      }),
    60_000
  )
})
