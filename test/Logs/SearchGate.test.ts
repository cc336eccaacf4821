/**
 * The per-organization search cap on its own: at most `permits` at once per organization, a short wait then
 * TooManySearches, other organizations unaffected, permits given back on failure and interruption, and a map that
 * holds only organizations with searches in flight.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
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
})
