/**
 * Brute-force limits, counted in Redis (shared by every instance). Login: FAILED attempts per client (IPv4 address
 * or IPv6 /64) and per email (hashed); past a threshold each further attempt must wait a delay that doubles, up to
 * a cap, so nobody is locked out for good. Register: every attempt per client and per email, in a fixed window.
 * Refused → 429 with `Retry-After`. Which address is the client's: ClientAddress.ts.
 */
import { HttpServerRequest } from "@effect/platform"
import { Config, Effect, Option } from "effect"
import { TooManyRequests } from "../Http/Errors.js"
import { QueueRedis } from "../Queue/Redis.js"
import { normalizeEmail } from "../Sql/UsersRepo.js"
import { bucketOf, type Cidr, clientAddress, parseTrustedProxies } from "./ClientAddress.js"
import { sha256Hex } from "./Tokens.js"

export interface BruteForceLimits {
  /** Register: the fixed window. Login: how long failures are remembered after the last delay ends. */
  readonly windowSeconds: number
  /** Login: failures per client before delays start. Register: attempts per client per window. */
  readonly perIp: number
  /** Login: failures per email before delays start. Register: attempts per email per window. */
  readonly perEmail: number
  /** The first delay; each further failure doubles it. */
  readonly delayBaseSeconds: number
  /** The longest delay: the bound on how long anyone can keep an account or address waiting. */
  readonly delayMaxSeconds: number
  /** Peers whose `X-Forwarded-For` is believed (CIDRs or addresses); empty: none. */
  readonly trustedProxies: ReadonlyArray<string>
}

/**
 * 20 failures per client and 10 per email before delays of 1 s, 2 s, 4 s … up to 15 min; failures forgotten 15 min
 * after the last delay. Overridable with THREADLINE_AUTH_WINDOW_SECONDS, THREADLINE_AUTH_ATTEMPTS_PER_IP,
 * THREADLINE_AUTH_ATTEMPTS_PER_EMAIL, THREADLINE_AUTH_DELAY_BASE_SECONDS, THREADLINE_AUTH_DELAY_MAX_SECONDS.
 */
export const DEFAULT_LIMITS: BruteForceLimits = {
  windowSeconds: 900,
  perIp: 20,
  perEmail: 10,
  delayBaseSeconds: 1,
  delayMaxSeconds: 900,
  trustedProxies: []
}

// Register: INCR, start the window on the first hit, and return the count with the window's remaining milliseconds.
const WINDOW_SCRIPT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`

/**
 * Login, before the password is checked (atomic, so parallel guesses cannot slip past a threshold together).
 * KEYS: client, email. ARGV: threshold client, threshold email, base ms, cap ms, window ms.
 * A key whose delay is running refuses: {ms to wait}. Otherwise the attempt is counted on both keys (as a failure
 * until login reports success) and, at or past the threshold, arms the next delay: {0, set1, prev1, set2, prev2}.
 */
const ATTEMPT_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, 2 do
  local u = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if u - now > wait then wait = u - now end
end
if wait > 0 then return {wait} end
local out = {0}
for i = 1, 2 do
  local n = redis.call('HINCRBY', KEYS[i], 'n', 1)
  local prev = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  local set = 0
  local hold = 0
  local over = n - tonumber(ARGV[i])
  if over >= 0 then
    hold = tonumber(ARGV[4])
    if over < 40 then hold = math.min(tonumber(ARGV[3]) * (2 ^ over), hold) end
    hold = math.floor(hold)
    set = now + hold
    redis.call('HSET', KEYS[i], 'until', string.format('%d', set))
  end
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[5]) + hold)
  out[#out + 1] = set
  out[#out + 1] = prev
end
return out`

/**
 * Login succeeded: the client's count gives back this attempt (and the delay it armed, if any); the email's
 * counter is cleared. KEYS: client, email. ARGV: set, prev (from ATTEMPT_SCRIPT for the client key).
 */
const SUCCESS_SCRIPT = `if redis.call('EXISTS', KEYS[1]) == 1 then
  local n = redis.call('HINCRBY', KEYS[1], 'n', -1)
  if n <= 0 then redis.call('HSET', KEYS[1], 'n', 0) end
  if tonumber(ARGV[1]) > 0 and tonumber(redis.call('HGET', KEYS[1], 'until') or '0') == tonumber(ARGV[1]) then
    redis.call('HSET', KEYS[1], 'until', ARGV[2])
  end
end
redis.call('DEL', KEYS[2])
return 1`

/** What a counted login attempt hands back, so a success can undo its count. */
export interface LoginTicket {
  readonly ipKey: string
  readonly emailKey: string
  readonly armed: number
  readonly previous: number
}

/**
 * The per-email bucket: the hash of the email in the form accounts are looked up by (NFKC, lower case), so a
 * look-alike spelling (full-width letters, the Kelvin sign) that reaches the same account shares its counter.
 */
export const emailHash = (email: string): string => sha256Hex(normalizeEmail(email).trim())

const tooMany = (ms: number) =>
  new TooManyRequests({
    message: "too many attempts; try again later",
    retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000))
  })

export class BruteForce extends Effect.Service<BruteForce>()("Tenancy/BruteForce", {
  effect: Effect.gen(function* () {
    const redis = (yield* QueueRedis).producer
    const prefix = `${(yield* QueueRedis).prefix}:bf`
    const integer = (name: string, fallback: number) => Config.integer(name).pipe(Config.withDefault(fallback))
    let limits: BruteForceLimits = {
      windowSeconds: yield* integer("THREADLINE_AUTH_WINDOW_SECONDS", DEFAULT_LIMITS.windowSeconds),
      perIp: yield* integer("THREADLINE_AUTH_ATTEMPTS_PER_IP", DEFAULT_LIMITS.perIp),
      perEmail: yield* integer("THREADLINE_AUTH_ATTEMPTS_PER_EMAIL", DEFAULT_LIMITS.perEmail),
      delayBaseSeconds: yield* integer("THREADLINE_AUTH_DELAY_BASE_SECONDS", DEFAULT_LIMITS.delayBaseSeconds),
      delayMaxSeconds: yield* integer("THREADLINE_AUTH_DELAY_MAX_SECONDS", DEFAULT_LIMITS.delayMaxSeconds),
      trustedProxies: yield* Config.string("THREADLINE_TRUSTED_PROXIES").pipe(
        Config.withDefault(""),
        Config.map((s) =>
          s
            .split(",")
            .map((x) => x.trim())
            .filter((x) => x.length > 0)
        )
      )
    }
    // a bad entry stops the process at start-up rather than silently trusting nothing (or everything)
    let trusted: ReadonlyArray<Cidr> = yield* Effect.try(() => parseTrustedProxies(limits.trustedProxies))

    const hit = (key: string, limit: number) =>
      Effect.tryPromise(
        () => redis.eval(WINDOW_SCRIPT, 1, key, String(limits.windowSeconds * 1000)) as Promise<[number, number]>
      ).pipe(
        Effect.orDie,
        Effect.flatMap(([count, ttl]) => (count > limit ? Effect.fail(tooMany(ttl)) : Effect.void))
      )

    /** Register: counts one attempt from `ip` for `email`; 429 when either counter is over its window's limit. */
    const attempt = (action: "register", ip: string, email: string) =>
      Effect.all(
        [
          hit(`${prefix}:${action}:ip:${bucketOf(ip)}`, limits.perIp),
          hit(`${prefix}:${action}:email:${emailHash(email)}`, limits.perEmail)
        ],
        { concurrency: 2, discard: true }
      ).pipe(Effect.withSpan("BruteForce.attempt"))

    /**
     * Login, before the password is checked: 429 while a delay runs for this client or email; otherwise counted
     * as a failure (until `loginSucceeded`), arming the next delay once past a threshold.
     */
    const loginAttempt = (ip: string, email: string): Effect.Effect<LoginTicket, TooManyRequests> =>
      Effect.gen(function* () {
        const ipKey = `${prefix}:login:ip:${bucketOf(ip)}`
        const emailKey = `${prefix}:login:email:${emailHash(email)}`
        const reply = yield* Effect.tryPromise(
          () =>
            redis.eval(
              ATTEMPT_SCRIPT,
              2,
              ipKey,
              emailKey,
              String(Math.max(1, limits.perIp)),
              String(Math.max(1, limits.perEmail)),
              String(limits.delayBaseSeconds * 1000),
              String(limits.delayMaxSeconds * 1000),
              String(limits.windowSeconds * 1000)
            ) as Promise<Array<number>>
        ).pipe(Effect.orDie)
        const [wait = 0, armed = 0, previous = 0] = reply
        if (wait > 0) return yield* tooMany(wait)
        return { ipKey, emailKey, armed, previous }
      }).pipe(Effect.withSpan("BruteForce.loginAttempt"))

    /** The password was right: the attempt does not count against the client, and the email starts afresh. */
    const loginSucceeded = (ticket: LoginTicket) =>
      Effect.tryPromise(() =>
        redis.eval(SUCCESS_SCRIPT, 2, ticket.ipKey, ticket.emailKey, String(ticket.armed), String(ticket.previous))
      ).pipe(Effect.orDie, Effect.asVoid, Effect.withSpan("BruteForce.loginSucceeded"))

    /** The request's client address (ClientAddress.ts), under the configured trusted proxies. */
    const clientIp: Effect.Effect<string, never, HttpServerRequest.HttpServerRequest> = Effect.map(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        clientAddress(Option.getOrUndefined(request.remoteAddress), request.headers["x-forwarded-for"], trusted)
    )

    /** For tests and operators: replace some limits of this instance. */
    const configure = (next: Partial<BruteForceLimits>) =>
      Effect.sync(() => {
        const merged = { ...limits, ...next }
        trusted = parseTrustedProxies(merged.trustedProxies)
        limits = merged
      })

    return { attempt, loginAttempt, loginSucceeded, clientIp, configure } as const
  }).pipe(Effect.orDie)
}) {}
