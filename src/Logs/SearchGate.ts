/**
 * Per-organization cap on the searches and stats one process runs at once, so one tenant cannot hold the pool: a
 * search waits up to `queueWaitMs` for one of its organization's slots, then fails with 429 TooManySearches. One
 * semaphore per organization with searches in flight; it is dropped when its last user leaves, so the map holds
 * at most as many organizations as there are running searches.
 */
import { Effect, Option } from "effect"
import { TooManySearches } from "./QueryTypes.js"

interface Slot {
  readonly semaphore: Effect.Semaphore
  users: number
}

export interface SearchGate {
  readonly run: <A, E, R>(
    organizationId: string,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | TooManySearches, R>
  /** Organizations with a search running or waiting (for tests and metrics). */
  readonly size: () => number
}

export const makeSearchGate = (options: { readonly permits: number; readonly waitMs: number }): SearchGate => {
  const slots = new Map<string, Slot>()
  const enter = (org: string): Slot => {
    const slot = slots.get(org) ?? { semaphore: Effect.unsafeMakeSemaphore(options.permits), users: 0 }
    slot.users += 1
    slots.set(org, slot)
    return slot
  }
  const leave = (org: string, slot: Slot) => {
    slot.users -= 1
    if (slot.users === 0 && slots.get(org) === slot) slots.delete(org)
  }
  const busy = new TooManySearches({
    message: `too many searches of this organization at once (at most ${options.permits}); retry shortly`,
    retryAfterSeconds: 1
  })
  // the permit is released on every exit once taken, whatever interrupts the search
  const waitFor = <A, E, R>(slot: Slot, effect: Effect.Effect<A, E, R>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(Effect.timeoutOption(slot.semaphore.take(1), options.waitMs)),
        (taken): Effect.Effect<A, E | TooManySearches, R> =>
          Option.isNone(taken) ? Effect.fail(busy) : Effect.ensuring(restore(effect), slot.semaphore.release(1))
      )
    )
  const run = <A, E, R>(org: string, effect: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => enter(org)),
      (slot) =>
        // a free slot is taken at once (no timer); otherwise the bounded wait
        Effect.flatMap(
          slot.semaphore.withPermitsIfAvailable(1)(effect),
          (ran): Effect.Effect<A, E | TooManySearches, R> =>
            Option.isSome(ran) ? Effect.succeed(ran.value) : waitFor(slot, effect)
        ),
      (slot) => Effect.sync(() => leave(org, slot))
    )
  return { run, size: () => slots.size }
}
