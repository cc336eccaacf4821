/**
 * The per-organization search cap on its own: at most `permits` at once per organization, a short wait then
 * TooManySearches, other organizations unaffected, permits given back on failure and interruption, and a map that
 * holds only organizations with searches in flight.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Exit, Fiber } from "effect"
import { LogsConfig } from "../../src/Logs/LogsConfig.js"
import { TooManySearches } from "../../src/Logs/QueryTypes.js"
import { makeSearchGate } from "../../src/Logs/SearchGate.js"

describe("SearchGate", () => {
  it.live("the 5th search of an organization waits, then fails; others and later ones run", () =>
    Effect.gen(function* () {
      const gate = makeSearchGate({ permits: 4, waitMs: 50 })
      const release = yield* Deferred.make<void>()
      const held = yield* Effect.forkAll(Array.from({ length: 4 }, () => gate.run("org_a", Deferred.await(release))))
      yield* Effect.sleep("10 millis")
      const fifth = yield* Effect.exit(gate.run("org_a", Effect.succeed("ran")))
      expect(Exit.isFailure(fifth) && fifth.cause._tag === "Fail" && fifth.cause.error).toBeInstanceOf(TooManySearches)
      expect(yield* gate.run("org_b", Effect.succeed("other org"))).toBe("other org")
      // a slot freed while waiting is taken
      const waiting = yield* Effect.fork(gate.run("org_a", Effect.succeed("queued")))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(held)
      expect(yield* Fiber.join(waiting)).toBe("queued")
      expect(gate.size()).toBe(0)
    })
  )

  it.live("failures and interruptions give their permit back; the map empties", () =>
    Effect.gen(function* () {
      const gate = makeSearchGate({ permits: 1, waitMs: 20 })
      yield* Effect.exit(gate.run("org_a", Effect.fail("boom")))
      const stuck = yield* Effect.fork(gate.run("org_a", Effect.never))
      yield* Effect.sleep("5 millis")
      expect(gate.size()).toBe(1)
      yield* Fiber.interrupt(stuck)
      expect(yield* gate.run("org_a", Effect.succeed(1))).toBe(1)
      // many organizations, one search each: nothing stays behind
      yield* Effect.forEach(
        Array.from({ length: 1000 }, (_, i) => `org_${i}`),
        (org) => gate.run(org, Effect.void),
        {
          concurrency: 100
        }
      )
      expect(gate.size()).toBe(0)
    })
  )

  it.live("the process-wide cap: two organizations fill it, a third gets a prompt 429, then runs", () =>
    Effect.gen(function* () {
      const gate = makeSearchGate({ permits: 2, processPermits: 4, waitMs: 100 })
      const release = yield* Deferred.make<void>()
      const held = yield* Effect.forkAll(
        ["org_a", "org_a", "org_b", "org_b"].map((org) => gate.run(org, Deferred.await(release)))
      )
      yield* Effect.sleep("10 millis")
      const started = Date.now()
      const third = yield* Effect.exit(gate.run("org_c", Effect.succeed("ran")))
      expect(Date.now() - started).toBeLessThan(1000)
      expect(Exit.isFailure(third) && third.cause._tag === "Fail" && third.cause.error).toMatchObject({
        _tag: "TooManySearches",
        message: "too many searches on this server at once (at most 4); retry shortly"
      })
      // a search waiting for its organization's slot holds no process slot: one freed is C's
      const queued = yield* Effect.fork(gate.run("org_a", Effect.succeed("a")))
      const waitingC = yield* Effect.fork(gate.run("org_c", Effect.succeed("c")))
      yield* Effect.sleep("10 millis")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(held)
      expect([yield* Fiber.join(queued), yield* Fiber.join(waitingC)]).toEqual(["a", "c"])
      expect(gate.size()).toBe(0)
    })
  )

  it.effect("the caps follow the read pool: below its size in all, at most half of that per organization", () =>
    Effect.gen(function* () {
      const read = (env: Record<string, string>) =>
        Effect.provide(LogsConfig, LogsConfig.Default).pipe(
          Effect.map((c) => [c.processConcurrency, c.orgConcurrency]),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      expect(yield* read({})).toEqual([4, 2])
      expect(yield* read({ DATABASE_READ_POOL_SIZE: "11" })).toEqual([10, 4])
      expect(yield* read({ DATABASE_READ_POOL_SIZE: "11", THREADLINE_QUERY_ORG_CONCURRENCY: "8" })).toEqual([10, 5])
      expect(yield* read({ DATABASE_READ_POOL_SIZE: "11", THREADLINE_QUERY_PROCESS_CONCURRENCY: "6" })).toEqual([6, 3])
      // never the whole pool, whatever is configured; a pool of 1 or 2 still runs one search
      expect(yield* read({ THREADLINE_QUERY_PROCESS_CONCURRENCY: "50" })).toEqual([4, 2])
      expect(yield* read({ DATABASE_READ_POOL_SIZE: "1" })).toEqual([1, 1])
    })
  )
})
