/**
 * Helpers of the account-security tests: users over HTTP, logins with headers, and the brute-force counters of
 * the file's Redis prefix (reset between tests; a running delay ended to stand for time passing, never slept).
 */
import { randomBytes } from "node:crypto"
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { QueueRedis } from "../../src/Queue/Redis.js"
import { BruteForce, DEFAULT_LIMITS, emailHash } from "../../src/Tenancy/BruteForce.js"
import { send as req } from "../Http/support/TestServer.js"
import type { Reply } from "./Support.js"

export { req }

export const unique = () => randomBytes(4).toString("hex")
export const PASSWORD = "correct horse battery"

/** Test-sized limits: registrations from 127.0.0.1 never run out; callers lower what they test. */
export const LIMITS = { ...DEFAULT_LIMITS, perIp: 1000, perEmail: 1000, delayBaseSeconds: 60, delayMaxSeconds: 900 }

/** Every brute-force counter of this file's prefix is dropped and the limits reset: each test starts clean. */
export const resetBruteForce = Effect.gen(function* () {
  const redis = yield* QueueRedis
  const keys = yield* Effect.promise(() => redis.producer.keys(`${redis.prefix}:bf:*`))
  if (keys.length > 0) yield* Effect.promise(() => redis.producer.del(...keys))
  yield* (yield* BruteForce).configure(LIMITS)
})

/** Time passes for one login counter: its running delay ends now (the count of failures stays). */
export const endDelay = (kind: "email" | "ip", id: string) =>
  Effect.gen(function* () {
    const redis = yield* QueueRedis
    const key = `${redis.prefix}:bf:login:${kind}:${kind === "email" ? emailHash(id) : id}`
    expect(yield* Effect.promise(() => redis.producer.exists(key))).toBe(1)
    yield* Effect.promise(() => redis.producer.hdel(key, "until"))
  })

export const register = (label: string) =>
  Effect.gen(function* () {
    const email = `${label}-${unique()}@example.com`
    const reg = yield* req("POST", "/api/v1/auth/register", { body: { email, password: PASSWORD, name: label } })
    expect(reg.status).toBe(201)
    return { email, id: reg.json.id as string }
  })

export const login = (email: string, password = PASSWORD, headers: Record<string, string> = {}) =>
  req("POST", "/api/v1/auth/login", { body: { email, password }, headers })

export const user = (label: string) =>
  Effect.gen(function* () {
    const u = yield* register(label)
    const res = yield* login(u.email)
    expect(res.status).toBe(200)
    return { ...u, token: res.json.token as string }
  })

export const expect429 = (res: Reply) => {
  expect(res.status).toBe(429)
  expect(res.json).toMatchObject({ error: true, code: 429, name: "TooManyRequests" })
  return Number(res.headers.get("retry-after"))
}
