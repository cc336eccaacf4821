import { type ChildProcess, spawn } from "node:child_process"
import { afterAll, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import { OrganizationLimits } from "../../src/Limits/OrganizationLimits.js"
import { OverridesStoreLive } from "../../src/Limits/LimitsStorage.js"
import type { OrganizationId } from "../../src/RequestContext.js"
import { appConfig, cleanup, configProvider, databaseLayer, redisUrl, uniquePrefix, setLimits } from "./Support.js"
import { TestDatabaseInfo } from "../support/Database.js"

const prefix = uniquePrefix("procs")
const env = { REDIS_URL: redisUrl(), THREADLINE_LIMITS_PREFIX: prefix }
const Live = OrganizationLimits.Default.pipe(
  Layer.provideMerge(OverridesStoreLive),
  Layer.provideMerge(databaseLayer("procs")),
  Layer.provide(appConfig(env)),
  Layer.provide(configProvider(env))
)
afterAll(() => cleanup(prefix))

interface Child {
  readonly process: ChildProcess
  readonly ready: Deferred.Deferred<void>
  readonly result: Deferred.Deferred<{ allowed: number; refused: number }>
}

const spawnLimiter = (org: string, count: number) =>
  Effect.gen(function* () {
    const database = yield* TestDatabaseInfo
    const ready = yield* Deferred.make<void>()
    const result = yield* Deferred.make<{ allowed: number; refused: number }>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", "test/Limits/fixtures/Consume.ts"], {
          env: {
            ...process.env,
            ...env,
            DATABASE_URL: database.appUrl,
            CONSUME_ORG: org,
            CONSUME_COUNT: String(count),
            LOG_LEVEL: "Error"
          },
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      (c) => Effect.sync(() => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL"))
    )
    let buffer = ""
    const stderr: Array<string> = []
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString()))
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split("\n")
      buffer = lines.pop() ?? ""
      for (const line of lines) {
        if (line === "READY") Deferred.unsafeDone(ready, Effect.void)
        else if (line.startsWith('{"allowed"')) Deferred.unsafeDone(result, Effect.succeed(JSON.parse(line)))
      }
    })
    child.on("exit", (code) => {
      if (code !== 0)
        Deferred.unsafeDone(result, Effect.dieMessage(`limiter process exited ${code}: ${stderr.join("")}`))
      Deferred.unsafeDone(ready, Effect.dieMessage(`limiter process exited before READY: ${stderr.join("")}`))
    })
    return { process: child, ready, result } satisfies Child
  })

layer(Live, { timeout: 90_000, excludeTestServices: true })("separate processes", (it) => {
  it.scoped("two limiter processes on one Redis share the same limit exactly", () =>
    Effect.gen(function* () {
      const org = `org_procs${prefix.slice(-6)}` as OrganizationId
      yield* setLimits(org, { rateLimit: { requestsPerMinute: 75 } })
      const children = yield* Effect.all([spawnLimiter(org, 120), spawnLimiter(org, 120)])
      yield* Effect.forEach(children, (c) => Deferred.await(c.ready), { discard: true })
      for (const c of children) c.process.stdin?.write("go\n")
      const [a, b] = yield* Effect.forEach(children, (c) => Deferred.await(c.result))
      expect(a.allowed + b!.allowed).toBe(75)
      expect(a.refused + b!.refused).toBe(240 - 75)
    })
  )
})
