/**
 * Brute-force limits on login over real HTTP and Redis: failures count, successes do not; delays grow and are
 * capped; X-Forwarded-For only from trusted proxies; IPv6 clients by /64. The scrypt cost is lowered here (these
 * tests log in dozens of times); Security.test.ts runs with the default cost.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { QueueRedis } from "../../src/Queue/Redis.js"
import { BruteForce } from "../../src/Tenancy/BruteForce.js"
import { sha256Hex } from "../../src/Tenancy/Tokens.js"
import { tenancyServer } from "./Support.js"
import { endDelay, expect429, LIMITS, login, PASSWORD, register, resetBruteForce, unique } from "./SecuritySupport.js"

const server = tenancyServer("tenancy_bruteforce", {
  THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000",
  THREADLINE_PASSWORD_SCRYPT_LOG_N: "14"
})

layer(server.layer, { timeout: 120_000 })("brute-force limits", (it) => {
  it.effect("brute force: 25 successful logins from one address lock nobody out; failures still count", () =>
    Effect.gen(function* () {
      yield* resetBruteForce
      const a = yield* register("nat-a")
      const b = yield* register("nat-b")
      yield* (yield* BruteForce).configure({ perIp: 6, perEmail: 3 })
      const statuses: Array<number> = []
      for (let i = 0; i < 25; i++) statuses.push((yield* login(i % 2 === 0 ? a.email : b.email)).status)
      expect(statuses).toEqual(Array(25).fill(200))
      // a success in between starts the email afresh: 2 failures, a success, 2 failures are all answered
      expect((yield* login(a.email, "wrong password")).status).toBe(401)
      expect((yield* login(a.email, "wrong password")).status).toBe(401)
      expect((yield* login(a.email)).status).toBe(200)
      expect((yield* login(a.email, "wrong password")).status).toBe(401)
      expect((yield* login(a.email, "wrong password")).status).toBe(401)
      // the third failure in a row arms the delay; the next attempt, even with the right password, waits
      expect((yield* login(a.email, "wrong password")).status).toBe(401)
      // Retry-After: the delay (60 s) less the time since it was armed (the password check of the failure)
      const wait = expect429(yield* login(a.email))
      expect(wait).toBeGreaterThan(30)
      expect(wait).toBeLessThanOrEqual(60)
      // the other account from the same address is unaffected (5 failures < 6 per address)
      expect((yield* login(b.email)).status).toBe(200)
    })
  )
  it.effect(
    "brute force: each failure past the threshold doubles the delay, up to the cap; then the owner logs in",
    () =>
      Effect.gen(function* () {
        yield* resetBruteForce
        const victim = yield* register("victim")
        yield* (yield* BruteForce).configure({ perEmail: 2, delayBaseSeconds: 10, delayMaxSeconds: 40 })
        expect((yield* login(victim.email, "guess 1")).status).toBe(401)
        expect((yield* login(victim.email, "guess 2")).status).toBe(401)
        const waits: Array<number> = []
        for (let i = 3; i <= 6; i++) {
          waits.push(expect429(yield* login(victim.email, "guess")))
          yield* endDelay("email", victim.email)
          expect((yield* login(victim.email, `guess ${i}`)).status).toBe(401)
        }
        waits.push(expect429(yield* login(victim.email, PASSWORD)))
        // 10 s, 20 s, 40 s, then capped at 40 s however many failures follow: never a permanent lock
        expect(waits).toEqual([10, 20, 40, 40, 40])
        const redis = yield* QueueRedis
        const ttl = yield* Effect.promise(() =>
          redis.producer.pttl(`${redis.prefix}:bf:login:email:${sha256Hex(victim.email.toLowerCase())}`)
        )
        expect(ttl).toBeLessThanOrEqual((LIMITS.windowSeconds + 40) * 1000)
        // once the (bounded) delay has passed, the right password works and the count starts afresh
        yield* endDelay("email", victim.email)
        expect((yield* login(victim.email)).status).toBe(200)
        expect((yield* login(victim.email, "typo")).status).toBe(401)
      })
  )
  it.effect(
    "brute force: failures under NFKC look-alikes of one email share its bucket (full width, Kelvin sign)",
    () =>
      Effect.gen(function* () {
        yield* resetBruteForce
        const victim = yield* register("kvictim")
        yield* (yield* BruteForce).configure({ perEmail: 2 })
        // look-alikes that the account lookup folds to the same address: full-width letters, the Kelvin sign, case
        const fullWidth = victim.email.replace(/^k/, "\uFF4B")
        const kelvin = victim.email.replace(/^k/, "\u212A")
        expect(fullWidth).not.toBe(victim.email)
        expect((yield* login(fullWidth, "guess 1")).status).toBe(401)
        expect((yield* login(kelvin.toUpperCase(), "guess 2")).status).toBe(401)
        // the delay is armed for the account, whatever spelling comes next, even with the right password
        expect429(yield* login(victim.email))
        expect429(yield* login(fullWidth))
        expect429(yield* login(kelvin))
        yield* endDelay("email", victim.email)
        expect((yield* login(kelvin)).status).toBe(200)
      })
  )
  it.effect("brute force: X-Forwarded-For is ignored from an untrusted peer and honoured from a trusted proxy", () =>
    Effect.gen(function* () {
      yield* resetBruteForce
      const bf = yield* BruteForce
      yield* bf.configure({ perIp: 2, trustedProxies: [] })
      const nobody = () => `nobody-${unique()}@example.com`
      // untrusted peer: a different spoofed address on each attempt still counts against 127.0.0.1
      for (const spoofed of ["203.0.113.1", "203.0.113.2"]) {
        expect((yield* login(nobody(), PASSWORD, { "x-forwarded-for": spoofed })).status).toBe(401)
      }
      expect429(yield* login(nobody(), PASSWORD, { "x-forwarded-for": "203.0.113.3" }))

      // 127.0.0.1 as a trusted proxy: the client is the right-most untrusted address of the header
      yield* resetBruteForce
      yield* bf.configure({ perIp: 2, trustedProxies: ["127.0.0.1/32"] })
      const from = (xff: string) => login(nobody(), PASSWORD, { "x-forwarded-for": xff })
      expect((yield* from("198.51.100.7")).status).toBe(401)
      // a client-supplied left part does not change who the client is
      expect((yield* from("1.2.3.4, 198.51.100.7")).status).toBe(401)
      expect429(yield* from("5.6.7.8, 198.51.100.7"))
      expect((yield* from("198.51.100.8")).status).toBe(401)
      // without the header, the proxy itself is the client
      expect((yield* login(nobody())).status).toBe(401)
    })
  )
  it.effect("brute force: two IPv6 addresses in one /64 share a bucket, another /64 does not", () =>
    Effect.gen(function* () {
      yield* resetBruteForce
      yield* (yield* BruteForce).configure({ perIp: 2, trustedProxies: ["127.0.0.1"] })
      const from = (xff: string) => login(`nobody-${unique()}@example.com`, PASSWORD, { "x-forwarded-for": xff })
      expect((yield* from("2001:db8:1:2::1")).status).toBe(401)
      expect((yield* from("2001:db8:1:2:ffff:ffff:ffff:9")).status).toBe(401)
      expect429(yield* from("2001:db8:1:2::abcd"))
      expect((yield* from("2001:db8:1:3::1")).status).toBe(401)
      // the delay ends: the /64 may try again
      yield* endDelay("ip", "2001:db8:1:2::/64")
      expect((yield* from("2001:db8:1:2::1")).status).toBe(401)
    })
  )
})
