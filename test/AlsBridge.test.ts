import { EventEmitter } from "node:events"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Logger, Random, Runtime } from "effect"
import * as AlsBridge from "../src/AlsBridge.js"
import { toLine } from "../src/Logging.js"
import {
  type OrganizationId,
  type ProjectId,
  RequestContext,
  type RequestContextData,
  type UserId
} from "../src/RequestContext.js"

const ctxFor = (n: number): RequestContextData =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "user", userId: `usr_u${n}` as UserId },
    organizationId: `org_o${n}` as OrganizationId,
    projectId: `prj_p${n}` as ProjectId,
    requestId: `req-${n}` as RequestContextData["requestId"]
  })

const seenAfter = {
  setTimeout: () =>
    new Promise<string | undefined>((resolve) => setTimeout(() => resolve(AlsBridge.currentOrNull()?.requestId), 1)),
  setImmediate: () =>
    new Promise<string | undefined>((resolve) => setImmediate(() => resolve(AlsBridge.currentOrNull()?.requestId))),
  thenable: async () => {
    const thenable = { then: (resolve: (v: number) => void) => setTimeout(() => resolve(1), 0) }
    await thenable
    return AlsBridge.currentOrNull()?.requestId
  },
  emitter: () => {
    const emitter = new EventEmitter()
    const seen = new Promise<string | undefined>((resolve) =>
      emitter.once("tick", () => resolve(AlsBridge.currentOrNull()?.requestId))
    )
    setImmediate(() => emitter.emit("tick"))
    return seen
  }
} as const

describe("AlsBridge", () => {
  it.live("10,000 concurrent units of work each see only their own context, everywhere", () => {
    const lines: Array<Record<string, unknown>> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make((options) => {
        lines.push(toLine(options))
      })
    )
    const N = 10_000
    const unit = (n: number) =>
      Effect.gen(function* () {
        const expected = `req-${n}`
        const mismatches: Array<string> = []
        const check = (where: string, actual: string | undefined) => {
          if (actual !== expected) mismatches.push(`${where}: ${String(actual)}`)
        }
        for (const [where, probe] of Object.entries(seenAfter)) {
          yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 3)} millis`)
          yield* Effect.yieldNow()
          check(`current before ${where}`, (yield* RequestContext.current).requestId)
          check(where, yield* AlsBridge.promise(probe))
          check(`sync after ${where}`, yield* AlsBridge.sync(() => AlsBridge.currentOrNull()?.requestId))
        }
        yield* Effect.logInfo("unit done", { n })
        return mismatches
      }).pipe(RequestContext.withContext(ctxFor(n)))

    return Effect.gen(function* () {
      const results = yield* Effect.forEach(
        Array.from({ length: N }, (_, i) => i),
        unit,
        { concurrency: "unbounded" }
      )
      const crossTalk = results.flat()
      expect(crossTalk).toEqual([])
      expect(results).toHaveLength(N)
      expect(lines).toHaveLength(N)
      for (const line of lines) {
        expect(line.requestId).toBe(`req-${String(line.n)}`)
        expect(line.organizationId).toBe(`org_o${String(line.n)}`)
        expect(line.projectId).toBe(`prj_p${String(line.n)}`)
      }
      expect(AlsBridge.currentOrNull()).toBeNull()
    }).pipe(Effect.provide(capture))
  })

  it("currentOrNull is null outside a unit of work, also right after one ended", async () => {
    expect(AlsBridge.currentOrNull()).toBeNull()
    const inside = await Effect.runPromise(
      AlsBridge.promise(async () => {
        await new Promise((r) => setTimeout(r, 1))
        return AlsBridge.currentOrNull()?.requestId
      }).pipe(RequestContext.withContext(ctxFor(1)))
    )
    expect(inside).toBe("req-1")
    expect(AlsBridge.currentOrNull()).toBeNull()
    await new Promise((r) => setImmediate(r))
    expect(AlsBridge.currentOrNull()).toBeNull()
    expect(() => AlsBridge.current()).toThrow(AlsBridge.NoRequestContext)
  })

  it("plain Effect.promise does not see the context (the bridge is explicit)", async () => {
    const seen = await Effect.runPromise(
      Effect.promise(async () => AlsBridge.currentOrNull()).pipe(RequestContext.withContext(ctxFor(2)))
    )
    expect(seen).toBeNull()
  })

  it("runEffect enters Effect from a plain callback under the context it runs in", async () => {
    const runtime = Runtime.defaultRuntime
    const viaCallback = await AlsBridge.run(
      ctxFor(7),
      () =>
        new Promise<string>((resolve, reject) =>
          setTimeout(() => {
            AlsBridge.runEffect(
              Effect.map(RequestContext, (c) => c.requestId),
              runtime
            ).then(resolve, reject)
          }, 1)
        )
    )
    expect(viaCallback).toBe("req-7")
    await expect(AlsBridge.runEffect(RequestContext.current, runtime)).rejects.toBeInstanceOf(
      AlsBridge.NoRequestContext
    )
  })

  it("runEffect surfaces the effect's failure", async () => {
    const exit = await AlsBridge.run(ctxFor(8), () =>
      AlsBridge.runEffect(Effect.fail("boom" as const), Runtime.defaultRuntime).then(
        () => Exit.void,
        (e: unknown) => Exit.fail(e)
      )
    )
    expect(Exit.isFailure(exit)).toBe(true)
  })

  it.effect("tryPromise maps rejections and keeps the context", () =>
    Effect.gen(function* () {
      const result = yield* AlsBridge.tryPromise({
        try: () => Promise.reject(new Error(AlsBridge.currentOrNull()?.requestId ?? "none")),
        catch: (e) => (e as Error).message
      }).pipe(Effect.flip)
      expect(result).toBe("req-9")
    }).pipe(RequestContext.withContext(ctxFor(9)))
  )
})
