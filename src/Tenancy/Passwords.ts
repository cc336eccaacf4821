/**
 * Password hashing with scrypt (node:crypto). The KDF runs on libuv's thread pool (the async `scrypt`), so a
 * login never blocks the event loop; the result is compared in constant time. Stored form:
 * `scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>`, so parameters can be raised later without breaking old hashes.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"
import { Effect, Redacted } from "effect"

/** N = 2^15, r = 8, p = 1: 32 MiB per hash; measured ~0.2 s per hash on the 2-core dev box (off the event loop). */
export const PARAMS = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const

const derive = (password: string, salt: Buffer, N: number, r: number, p: number, keyLength: number) =>
  Effect.async<Buffer>((resume) => {
    scrypt(password, salt, keyLength, { N, r, p, maxmem: 256 * N * r }, (err, key) => {
      resume(err === null ? Effect.succeed(key) : Effect.die(err))
    })
  })

export const hash = (password: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.gen(function* () {
    const salt = randomBytes(PARAMS.saltLength)
    const { N, r, p, keyLength } = PARAMS
    const key = yield* derive(Redacted.value(password), salt, N, r, p, keyLength)
    return `scrypt$${N}$${r}$${p}$${salt.toString("base64url")}$${key.toString("base64url")}`
  }).pipe(Effect.withSpan("Passwords.hash"))

/** False for a wrong password or an unreadable stored hash (never an error: the caller answers 401 either way). */
export const verify = (password: Redacted.Redacted<string>, stored: string): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const parts = stored.split("$")
    if (parts.length !== 6 || parts[0] !== "scrypt") return false
    const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
    if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 2 ** 20) return false
    const salt = Buffer.from(parts[4] ?? "", "base64url")
    const expected = Buffer.from(parts[5] ?? "", "base64url")
    if (expected.length === 0) return false
    const actual = yield* derive(Redacted.value(password), salt, N, r, p, expected.length)
    return timingSafeEqual(actual, expected)
  }).pipe(Effect.withSpan("Passwords.verify"))
