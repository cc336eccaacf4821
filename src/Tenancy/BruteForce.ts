/**
 * Brute-force limits on login and register: fixed windows counted in Redis (shared by every instance), one counter
 * per client IP and one per email (lower-cased, hashed so no address sits in Redis). Each attempt counts, before
 * the password is checked, so a guesser cannot learn anything past the limit. Over the limit → 429 with
 * `Retry-After` = the seconds left in the window.
 */
import { Config, Effect } from "effect"
import { TooManyRequests } from "../Http/Errors.js"
import { QueueRedis } from "../Queue/Redis.js"
import { sha256Hex } from "./Tokens.js"

export interface BruteForceLimits {
  readonly windowSeconds: number
  readonly perIp: number
  readonly perEmail: number
}

/**
 * 20 attempts per IP and 10 per email per 15 minutes (a person retrying a password stays far below); overridable
 * with THREADLINE_AUTH_WINDOW_SECONDS, THREADLINE_AUTH_ATTEMPTS_PER_IP, THREADLINE_AUTH_ATTEMPTS_PER_EMAIL.
 */
export const DEFAULT_LIMITS: BruteForceLimits = { windowSeconds: 900, perIp: 20, perEmail: 10 }

// INCR, start the window on the first hit, and return the count with the window's remaining milliseconds.
const SCRIPT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`

export class BruteForce extends Effect.Service<BruteForce>()("Tenancy/BruteForce", {
  effect: Effect.gen(function* () {
    const redis = (yield* QueueRedis).producer
    const prefix = `${(yield* QueueRedis).prefix}:bf`
    let limits: BruteForceLimits = {
      windowSeconds: yield* Config.integer("THREADLINE_AUTH_WINDOW_SECONDS").pipe(
        Config.withDefault(DEFAULT_LIMITS.windowSeconds)
      ),
      perIp: yield* Config.integer("THREADLINE_AUTH_ATTEMPTS_PER_IP").pipe(Config.withDefault(DEFAULT_LIMITS.perIp)),
      perEmail: yield* Config.integer("THREADLINE_AUTH_ATTEMPTS_PER_EMAIL").pipe(
        Config.withDefault(DEFAULT_LIMITS.perEmail)
      )
    }

    const hit = (key: string, limit: number) =>
      Effect.tryPromise(
        () => redis.eval(SCRIPT, 1, key, String(limits.windowSeconds * 1000)) as Promise<[number, number]>
      ).pipe(
        Effect.orDie,
        Effect.flatMap(([count, ttl]) =>
          count > limit
            ? Effect.fail(
                new TooManyRequests({
                  message: "too many attempts; try again later",
                  retryAfterSeconds: Math.max(1, Math.ceil(ttl / 1000))
                })
              )
            : Effect.void
        )
      )

    /** Counts one attempt of `action` from `ip` for `email`; fails with 429 when either counter is over. */
    const attempt = (action: "login" | "register", ip: string, email: string) =>
      Effect.all(
        [
          hit(`${prefix}:${action}:ip:${ip}`, limits.perIp),
          hit(`${prefix}:${action}:email:${sha256Hex(email.trim().toLowerCase())}`, limits.perEmail)
        ],
        { concurrency: 2, discard: true }
      ).pipe(Effect.withSpan("BruteForce.attempt"))

    /** For tests and operators: replace the limits of this instance. */
    const configure = (next: BruteForceLimits) => Effect.sync(() => void (limits = next))

    return { attempt, configure } as const
  }).pipe(Effect.orDie)
}) {}
