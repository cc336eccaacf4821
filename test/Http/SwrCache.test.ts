/**
 * Stale-while-revalidate semantics on the test clock: fresh values are served without a lookup, stale ones are
 * served at once while one background lookup refreshes them, values past the stale bound are looked up again,
 * negative answers are not served stale, and concurrent misses share one lookup.
 */
import { expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, TestClock } from "effect"
import * as SwrCache from "../../src/Http/SwrCache.js"

const counting = (answer: (key: string, n: number) => Option.Option<string>, gate?: Deferred.Deferred<void>) => {
  const calls: Array<string> = []
  const lookup = (key: string) =>
    Effect.gen(function* () {
      calls.push(key)
      if (gate !== undefined) yield* Deferred.await(gate)
      return answer(key, calls.length)
    })
  return { calls, lookup }
}

it.scoped("fresh, stale-while-revalidate, expired", () =>
  Effect.gen(function* () {
    const { calls, lookup } = counting((key, n) => Option.some(`${key}#${n}`))
    const cache = yield* SwrCache.make({ lookup, freshMs: 1_000, staleMs: 10_000, capacity: 10 })
    expect(yield* cache.get("acme")).toEqual(Option.some("acme#1"))
    yield* TestClock.adjust("500 millis")
    expect(yield* cache.get("acme")).toEqual(Option.some("acme#1"))
    expect(calls).toEqual(["acme"])
    yield* TestClock.adjust("2 seconds")
    // stale: the old value at once, one refresh in the background
    expect(yield* cache.get("acme")).toEqual(Option.some("acme#1"))
    yield* Effect.yieldNow()
    expect(calls).toEqual(["acme", "acme"])
    expect(yield* cache.get("acme")).toEqual(Option.some("acme#2"))
    yield* TestClock.adjust("11 seconds")
    // past the stale bound: looked up on the caller's fiber
    expect(yield* cache.get("acme")).toEqual(Option.some("acme#3"))
  })
)

it.scoped("a failed refresh keeps serving the stale value until it is too old", () =>
  Effect.gen(function* () {
    let fail = false
    const cache = yield* SwrCache.make({
      lookup: (key: string) => (fail ? Effect.fail("db down") : Effect.succeed(Option.some(key))),
      freshMs: 1_000,
      staleMs: 10_000,
      capacity: 10
    })
    expect(yield* cache.get("k")).toEqual(Option.some("k"))
    fail = true
    yield* TestClock.adjust("5 seconds")
    expect(yield* cache.get("k")).toEqual(Option.some("k"))
    yield* Effect.yieldNow()
    expect(yield* cache.get("k")).toEqual(Option.some("k"))
    yield* TestClock.adjust("6 seconds")
    expect(yield* Effect.flip(cache.get("k"))).toBe("db down")
  })
)

it.scoped("negative answers are cached while fresh only; concurrent misses share a lookup", () =>
  Effect.gen(function* () {
    const gate = yield* Deferred.make<void>()
    const { calls, lookup } = counting(() => Option.none(), gate)
    const cache = yield* SwrCache.make({ lookup, freshMs: 1_000, staleMs: 10_000, capacity: 10 })
    const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(cache.get("new-org")))
    yield* Effect.yieldNow()
    yield* Deferred.succeed(gate, undefined)
    for (const f of fibers) expect(yield* Fiber.join(f)).toEqual(Option.none())
    expect(calls).toEqual(["new-org"])
    yield* TestClock.adjust("1500 millis")
    expect(yield* cache.get("new-org")).toEqual(Option.none())
    expect(calls).toEqual(["new-org", "new-org"])
  })
)

it.scoped("bounded: past capacity the oldest key is dropped", () =>
  Effect.gen(function* () {
    const { calls, lookup } = counting((key) => Option.some(key))
    const cache = yield* SwrCache.make({ lookup, freshMs: 1_000, staleMs: 10_000, capacity: 2 })
    yield* cache.get("a")
    yield* cache.get("b")
    yield* cache.get("c")
    yield* cache.get("b")
    yield* cache.get("a")
    expect(calls).toEqual(["a", "b", "c", "a"])
  })
)
