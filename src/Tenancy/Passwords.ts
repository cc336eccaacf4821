/**
 * Password hashing with scrypt (node:crypto), off the event loop (libuv's pool), compared in constant time. Stored
 * form `scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>`: older costs still verify, and `needsRehash` tells login to
 * upgrade them. At most KDF_CONCURRENCY derivations run at once per process (each takes 128 MiB at N = 2^17).
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"
import { Effect, Option, Redacted } from "effect"
import { TenancyConfig } from "./TenancyConfig.js"

/** r = 8, p = 1; N = 2^17 unless THREADLINE_PASSWORD_SCRYPT_LOG_N says otherwise (~0.4 s on the 2-core dev box). */
const PARAMS = { logN: 17, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const

/** Two KDFs at once per process: 256 MiB at most, and a login flood queues instead of exhausting memory. */
const KDF_CONCURRENCY = 2
const permits = Effect.unsafeMakeSemaphore(KDF_CONCURRENCY)

/** The N of new hashes: the tenancy configuration's when it is provided, else the default. */
const currentN: Effect.Effect<number> = Effect.map(Effect.serviceOption(TenancyConfig), (config) =>
  Option.match(config, { onNone: () => 2 ** PARAMS.logN, onSome: (c) => 2 ** c.scryptLogN })
)

const derive = (password: string, salt: Buffer, N: number, r: number, p: number, keyLength: number) =>
  permits.withPermits(1)(
    Effect.async<Buffer>((resume) => {
      // maxmem: scrypt needs 128 * N * r bytes (128 MiB at N = 2^17, r = 8); twice that leaves headroom
      scrypt(password, salt, keyLength, { N, r, p, maxmem: 256 * N * r }, (err, key) => {
        resume(err === null ? Effect.succeed(key) : Effect.die(err))
      })
    })
  )

export const hash = (password: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.gen(function* () {
    const salt = randomBytes(PARAMS.saltLength)
    const N = yield* currentN
    const { r, p, keyLength } = PARAMS
    const key = yield* derive(Redacted.value(password), salt, N, r, p, keyLength)
    return `scrypt$${N}$${r}$${p}$${salt.toString("base64url")}$${key.toString("base64url")}`
  }).pipe(Effect.withSpan("Passwords.hash"))

const parse = (stored: string) => {
  const parts = stored.split("$")
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 2 ** 20 || r > 32 || p > 16) return undefined
  return { N, r, p, salt: Buffer.from(parts[4] ?? "", "base64url"), expected: Buffer.from(parts[5] ?? "", "base64url") }
}

/** False for a wrong password or an unreadable stored hash (never an error: the caller answers 401 either way). */
export const verify = (password: Redacted.Redacted<string>, stored: string): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const parsed = parse(stored)
    if (parsed === undefined || parsed.expected.length === 0) return false
    const { N, r, p, salt, expected } = parsed
    const actual = yield* derive(Redacted.value(password), salt, N, r, p, expected.length)
    return timingSafeEqual(actual, expected)
  }).pipe(Effect.withSpan("Passwords.verify"))

/** True when `stored` was made with other parameters than new hashes get (login then stores a fresh hash). */
export const needsRehash = (stored: string): Effect.Effect<boolean> =>
  Effect.map(currentN, (N) => {
    const parsed = parse(stored)
    return parsed === undefined || parsed.N !== N || parsed.r !== PARAMS.r || parsed.p !== PARAMS.p
  })
