/**
 * A small stale-while-revalidate cache: a value younger than `freshMs` is served as is; one younger than `staleMs`
 * is served at once while a single background lookup refreshes it (a failed refresh keeps the old value until it
 * is too old); anything older, or absent, is looked up on the caller's fiber, with concurrent misses of one key
 * sharing a lookup. Negative answers (`None`) are cached for the fresh window only, so a name created a moment
 * later is found as soon as possible. Bounded: past `capacity` keys the oldest entry is dropped.
 */
import { Clock, Deferred, Effect, Exit, FiberId, Option, type Scope } from "effect"

export interface SwrOptions<A, E> {
  readonly lookup: (key: string) => Effect.Effect<Option.Option<A>, E>
  readonly freshMs: number
  readonly staleMs: number
  readonly capacity: number
}

export interface SwrCache<A, E> {
  readonly get: (key: string) => Effect.Effect<Option.Option<A>, E>
  readonly invalidate: (key: string) => Effect.Effect<void>
}

interface Entry<A> {
  value: Option.Option<A>
  at: number
  refreshing: boolean
}

export const make = <A, E>(options: SwrOptions<A, E>): Effect.Effect<SwrCache<A, E>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const entries = new Map<string, Entry<A>>()
    const inflight = new Map<string, Deferred.Deferred<Option.Option<A>, E>>()

    const store = (key: string, value: Option.Option<A>, at: number) => {
      entries.delete(key)
      entries.set(key, { value, at, refreshing: false })
      if (entries.size > options.capacity) {
        const oldest = entries.keys().next()
        if (oldest.done !== true) entries.delete(oldest.value)
      }
    }

    /** One lookup per key at a time; the others wait for its result. */
    const load = (key: string): Effect.Effect<Option.Option<A>, E> =>
      Effect.suspend(() => {
        const pending = inflight.get(key)
        if (pending !== undefined) return Deferred.await(pending)
        const deferred = Deferred.unsafeMake<Option.Option<A>, E>(FiberId.none)
        inflight.set(key, deferred)
        return options.lookup(key).pipe(
          Effect.tap((value) => Effect.map(Clock.currentTimeMillis, (now) => store(key, value, now))),
          Effect.onExit((exit) => {
            inflight.delete(key)
            return Deferred.done(deferred, Exit.isSuccess(exit) ? exit : Exit.failCause(exit.cause))
          })
        )
      })

    const refresh = (key: string, entry: Entry<A>) => {
      entry.refreshing = true
      return load(key).pipe(
        Effect.ensuring(Effect.sync(() => (entry.refreshing = false))),
        Effect.ignore,
        Effect.forkIn(scope),
        Effect.asVoid
      )
    }

    const get = (key: string): Effect.Effect<Option.Option<A>, E> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(key)
        if (entry === undefined) return load(key)
        const age = now - entry.at
        if (age < options.freshMs) return Effect.succeed(entry.value)
        if (age < options.staleMs && Option.isSome(entry.value)) {
          return entry.refreshing ? Effect.succeed(entry.value) : Effect.as(refresh(key, entry), entry.value)
        }
        return load(key)
      })

    const invalidate = (key: string) => Effect.sync(() => void entries.delete(key))
    return { get, invalidate } as const
  })
