/**
 * Two Threadline API processes (`src/main.ts serve --roles api`, real children) on one Postgres database and one
 * Redis share an organization's rate limit: requests spread over both are refused once the organization's total
 * reaches the limit, whichever process answers.
 */
import { randomBytes } from "node:crypto"
import { afterAll, expect, layer, vi } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, spawnMain } from "../main/Support.js"
import { TestDatabase, TestDatabaseInfo } from "../support/Database.js"
import { cleanup, redisUrl } from "./Support.js"

// two child processes start and migrate: on a loaded machine (the whole suite at once) that outgrows 60 s
vi.setConfig({ testTimeout: 120_000 })

const prefix = `tltest:limits:two-apis:${process.pid}:${randomBytes(3).toString("hex")}`
afterAll(() => cleanup(prefix))
const LIMIT = 24

const call = (port: number, method: string, path: string, headers: Record<string, string>, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    const text = await res.text()
    return {
      status: res.status,
      headers: res.headers,
      json: (text === "" ? {} : JSON.parse(text)) as Record<string, unknown>
    }
  })

const started = (port: number) =>
  Effect.promise(async () => {
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }).pipe(Effect.timeout("90 seconds"), Effect.orDie)

layer(TestDatabase.layer("limits-two-apis"), { timeout: "180 seconds", excludeTestServices: true })(
  "two API processes",
  (it) => {
    it.effect("share one organization's rate limit through Redis", () =>
      Effect.gen(function* () {
        const db = yield* TestDatabaseInfo
        const env = (port: number) => ({
          DATABASE_URL: db.appUrl,
          DATABASE_OWNER_URL: db.ownerUrl,
          REDIS_URL: redisUrl(),
          PORT: String(port),
          HOST: "127.0.0.1",
          THREADLINE_ENV: "test",
          THREADLINE_SECRET_KEY: "c".repeat(64),
          THREADLINE_LIMITS_PREFIX: prefix,
          THREADLINE_QUEUE_PREFIX: `${prefix}-queue`,
          THREADLINE_RATE_LIMIT_ORG_PER_MINUTE: String(LIMIT),
          THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000"
        })
        const [p1, p2] = [yield* Effect.promise(freePort), yield* Effect.promise(freePort)]
        yield* spawnMain(["serve", "--roles", "api"], env(p1))
        yield* spawnMain(["serve", "--roles", "api"], env(p2))
        yield* Effect.all([started(p1), started(p2)], { concurrency: 2 })

        // a tenant made through the first process
        const email = `two-${randomBytes(4).toString("hex")}@example.com`
        const password = "correct horse battery"
        expect((yield* call(p1, "POST", "/api/v1/auth/register", {}, { email, password, name: "two" })).status).toBe(
          201
        )
        const token = (yield* call(p1, "POST", "/api/v1/auth/login", {}, { email, password })).json.token as string
        const auth = { authorization: `Bearer ${token}` }
        const slug = `two-${randomBytes(4).toString("hex")}`
        expect((yield* call(p1, "POST", "/api/v1/orgs", auth, { slug, name: "two" })).status).toBe(201)
        const project = (yield* call(p1, "POST", `/api/v1/orgs/${slug}/projects`, auth, { name: "p" })).json
        const key = (yield* call(p1, "POST", `/api/v1/orgs/${slug}/projects/${project.id as string}/api-keys`, auth, {
          name: "k",
          type: "full"
        })).json.secret as string

        // alternate between the processes: the organization's bucket had 2 requests already (project, key)
        const replies = yield* Effect.forEach(
          Array.from({ length: LIMIT + 10 }, (_, i) => i),
          (i) =>
            call(i % 2 === 0 ? p1 : p2, "POST", "/api/v1/ingest", { "x-api-key": key }, [
              { service: "s", level: "info", message: `m${i}` }
            ]),
          { concurrency: 4 }
        )
        const okBy = (parity: number) => replies.filter((r, i) => i % 2 === parity && r.status === 200).length
        expect(replies.filter((r) => r.status === 200)).toHaveLength(LIMIT - 2)
        expect(replies.filter((r) => r.status === 429)).toHaveLength(12)
        // both processes served and both refused: the count is one, not one per process
        expect(okBy(0)).toBeGreaterThan(0)
        expect(okBy(1)).toBeGreaterThan(0)
        expect(replies.filter((r, i) => i % 2 === 0 && r.status === 429).length).toBeGreaterThan(0)
        expect(replies.filter((r, i) => i % 2 === 1 && r.status === 429).length).toBeGreaterThan(0)
      }).pipe(Effect.scoped)
    )
  }
)
