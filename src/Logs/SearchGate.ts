/**
 * Caps on the searches and stats one process runs at once, so tenants cannot hold the read pool: per organization
 * (`permits`) and, beyond it, for the whole process (`processPermits`, below the read pool's size). A search waits
 * up to `waitMs` in all for both slots, then fails with 429 TooManySearches. One semaphore per organization with
 * searches in flight; it is dropped when its last user leaves, so the map holds at most the running searches' orgs.
 */
import { Clock, Effect, Option } from "effect"
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

export interface SearchGateOptions {
  /** Searches of one organization at once. */
  readonly permits: number
  /** Searches of all organizations at once; unset: no process-wide cap. */
  readonly processPermits?: number | undefined
  /** The longest a search waits for its slots before the 429. */
  readonly waitMs: number
}

export const makeSearchGate = (options: SearchGateOptions): SearchGate => {
  const slots = new Map<string, Slot>()
  const server = options.processPermits === undefined ? null : Effect.unsafeMakeSemaphore(options.processPermits)
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
  const serverBusy = new TooManySearches({
    message: `too many searches on this server at once (at most ${options.processPermits}); retry shortly`,
    retryAfterSeconds: 1
  })
  /**
   * `effect` with one permit of `semaphore`: at once when one is free (no timer), else after waiting until
   * `deadline` (epoch ms) at most, else `refused`. The permit is released on every exit once taken.
   */
  const withPermit = <A, E, R>(
    semaphore: Effect.Semaphore,
    deadline: number,
    refused: TooManySearches,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | TooManySearches, R> =>
    Effect.flatMap(semaphore.withPermitsIfAvailable(1)(effect), (ran): Effect.Effect<A, E | TooManySearches, R> =>
      Option.isSome(ran)
        ? Effect.succeed(ran.value)
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now >= deadline
              ? Effect.fail(refused)
              : Effect.uninterruptibleMask((restore) =>
                  Effect.flatMap(
                    restore(Effect.timeoutOption(semaphore.take(1), deadline - now)),
                    (taken): Effect.Effect<A, E | TooManySearches, R> =>
                      Option.isNone(taken)
                        ? Effect.fail(refused)
                        : Effect.ensuring(restore(effect), semaphore.release(1))
                  )
                )
          )
    )
  const run = <A, E, R>(org: string, effect: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => enter(org)),
      (slot) =>
        Effect.flatMap(Clock.currentTimeMillis, (started) => {
          const deadline = started + options.waitMs
          // the organization's slot first, so its queued searches never hold a process slot
          return withPermit(
            slot.semaphore,
            deadline,
            busy,
            server === null ? effect : withPermit(server, deadline, serverBusy, effect)
          )
        }),
      (slot) => Effect.sync(() => leave(org, slot))
    )
  return { run, size: () => slots.size }
}
