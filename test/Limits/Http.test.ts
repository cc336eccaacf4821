/**
 * Limits over real HTTP: the application's Api (ApiLive) with the limits area as the api role runs it
 * (TestLimitsLive = src/Limits/LimitsLive.ts), the real tenancy services, a fresh migrated database and real Redis.
 * Rate limits per organization keyed from the resolved context, their headers on successes and refusals, the limits
 * document, the platform-administrator check on changes (audited), a quota exhausted in the middle of a batch, and
 * the API-key creation limit.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { UsersRepo } from "../../src/Sql/UsersRepo.js"
import { baseUrl, call, type Reply } from "../Http/support/TestServer.js"
import { appServer } from "../support/AppServer.js"

const unique = () => randomBytes(4).toString("hex")
const ADMIN_EMAIL = `root-${unique()}@platform.example.com`
const ORG_PER_MINUTE = 40

const serverLayer = appServer("limits-http", {
  THREADLINE_RATE_LIMIT_ORG_PER_MINUTE: String(ORG_PER_MINUTE)
})

interface Auth {
  readonly token?: string
  readonly key?: string
  readonly requestId?: string
}

const req = (method: string, path: string, auth: Auth = {}, body?: unknown) =>
  Effect.flatMap(baseUrl, (base) =>
    call(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(auth.token !== undefined ? { authorization: `Bearer ${auth.token}` } : {}),
        ...(auth.key !== undefined ? { "x-api-key": auth.key } : {}),
        ...(auth.requestId !== undefined ? { "x-request-id": auth.requestId } : {})
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
  )

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect({ status: res.status, body: res.json }).toEqual({ expectedStatus: status })
  return res.json
}

const user = (label: string, email = `${label}-${unique()}@example.com`) =>
  Effect.gen(function* () {
    const password = "correct horse battery"
    ok(yield* req("POST", "/api/v1/auth/register", {}, { email, password, name: label }), 201)
    const login = ok(yield* req("POST", "/api/v1/auth/login", {}, { email, password }))
    return { email, token: login.token as string }
  })

/** An owner with an organization, a project and a full API key. */
const tenant = (label: string) =>
  Effect.gen(function* () {
    const owner = yield* user(`${label}-owner`)
    const slug = `${label}-${unique()}`
    const org = ok(yield* req("POST", "/api/v1/orgs", owner, { slug, name: label }), 201)
    const project = ok(yield* req("POST", `/api/v1/orgs/${slug}/projects`, owner, { name: "main" }), 201)
    const key = ok(
      yield* req("POST", `/api/v1/orgs/${slug}/projects/${project.id as string}/api-keys`, owner, {
        name: "k",
        type: "full"
      }),
      201
    )
    return { owner, slug, orgId: org.id as string, projectId: project.id as string, key: key.secret as string }
  })

const entries = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ service: "svc", level: "info", message: `${tag} ${i}` }))

/** it.effect runs on the TestClock: B's pacing must wait for real. */
const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const limitsOf = (slug: string, auth: Auth) => req("GET", `/api/v1/orgs/${slug}/limits`, auth)

layer(serverLayer, { timeout: "120 seconds" })("limits over HTTP", (it) => {
  it.effect("org A floods while org B sends at a normal rate: A gets 429s with the headers, B none", () =>
    Effect.gen(function* () {
      const a = yield* tenant("flood")
      const b = yield* tenant("calm")
      const flood = Effect.forEach(
        Array.from({ length: ORG_PER_MINUTE + 20 }, (_, i) => i),
        (i) => req("POST", "/api/v1/ingest", { key: a.key, requestId: `flood-${a.slug}-${i}` }, entries(1, "a")),
        { concurrency: 8 }
      )
      const calm = Effect.forEach(
        Array.from({ length: 15 }, (_, i) => i),
        () => Effect.zipRight(realSleep(20), req("POST", "/api/v1/ingest", { key: b.key }, entries(1, "b"))),
        { concurrency: 1 }
      )
      const [floodReplies, calmReplies] = yield* Effect.all([flood, calm], { concurrency: 2 })

      const refused = floodReplies.filter((r) => r.status === 429)
      const accepted = floodReplies.filter((r) => r.status === 200)
      expect(accepted.length + refused.length).toBe(floodReplies.length)
      // two of its requests went to the setup (project and key creation run on the organization's routes)
      expect(accepted.length).toBe(ORG_PER_MINUTE - 2)
      expect(refused.length).toBeGreaterThanOrEqual(20)
      for (const r of refused) {
        expect(r.json).toMatchObject({ error: true, code: 429, name: "RateLimited" })
        expect(r.json.reqId).toBe(r.headers.get("x-request-id"))
        expect(r.headers.get("x-request-id")).toMatch(/^flood-/)
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0)
        expect(r.headers.get("ratelimit-limit")).toBe(String(ORG_PER_MINUTE))
        expect(r.headers.get("ratelimit-remaining")).toBe("0")
        expect(Number(r.headers.get("ratelimit-reset"))).toBeGreaterThan(0)
      }
      for (const r of accepted) expect(Number(r.headers.get("ratelimit-remaining"))).toBeGreaterThanOrEqual(0)

      expect(calmReplies.map((r) => r.status)).toEqual(calmReplies.map(() => 200))
      const remaining = calmReplies.map((r) => Number(r.headers.get("ratelimit-remaining")))
      expect(remaining.every((n, i) => i === 0 || n < remaining[i - 1]!)).toBe(true)
      expect(calmReplies.every((r) => r.headers.get("ratelimit-limit") === String(ORG_PER_MINUTE))).toBe(true)

      // what A stored is exactly what was accepted: no refused request left a row behind
      const search = ok(yield* req("GET", "/api/v1/logs?limit=1000", { key: b.key }))
      expect((search.logs as Array<unknown>).length).toBe(15)
      const sql = yield* SqlClient.SqlClient
      const rows = yield* Tenant.transaction(
        sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM logs WHERE organization_id = ${a.orgId}`
      ).pipe(RequestContext.withContext(RequestContext.system("test", { organizationId: a.orgId as OrganizationId })))
      expect(rows[0]?.n).toBe(accepted.length)
    })
  )

  it.effect("members read the limits document; owners who are not platform administrators cannot change it", () =>
    Effect.gen(function* () {
      const t = yield* tenant("doc")
      ok(yield* req("POST", "/api/v1/ingest", { key: t.key }, entries(7, "doc")))
      const doc = ok(yield* limitsOf(t.slug, t.owner))
      expect(doc).toMatchObject({
        rateLimit: { requestsPerMinute: ORG_PER_MINUTE, apiKeyRequestsPerMinute: 3000 },
        quotas: { ingestEventsPerMonth: 100_000_000, alertRules: 100, apiKeys: 50 },
        usage: { ingestEventsThisMonth: 7, alertRules: 0, apiKeys: 1, storageBytes: 0 }
      })
      expect((doc.usage as { ingestBytesThisMonth: number }).ingestBytesThisMonth).toBeGreaterThan(7 * 10)

      const member = yield* user("doc-member")
      const invitation = ok(
        yield* req("POST", `/api/v1/orgs/${t.slug}/invitations`, t.owner, { email: member.email, role: "member" }),
        201
      )
      ok(yield* req("POST", "/api/v1/invitations/accept", member, { token: invitation.token }))
      expect((yield* limitsOf(t.slug, member)).status).toBe(403)
      const stranger = yield* user("doc-stranger")
      expect((yield* limitsOf(t.slug, stranger)).status).toBe(404)

      const raise = { quotas: { ingestEventsPerMonth: 999_999_999 } }
      const refused = yield* req("PUT", `/api/v1/orgs/${t.slug}/limits`, t.owner, raise)
      expect(refused.status).toBe(403)
      expect(refused.json).toMatchObject({ error: true, code: 403, name: "Forbidden" })
      expect(ok(yield* limitsOf(t.slug, t.owner)).quotas).toMatchObject({ ingestEventsPerMonth: 100_000_000 })
      // an API key is no platform administrator either
      expect((yield* req("PUT", `/api/v1/orgs/${t.slug}/limits`, { key: t.key }, raise)).status).toBe(401)
    })
  )

  it.effect("a platform administrator changes an organization's limits (audited); null restores the default", () =>
    Effect.gen(function* () {
      const t = yield* tenant("admin")
      const admin = yield* user("root", ADMIN_EMAIL)
      // the operator's flag (what `threadline admin grant` sets; the CLI itself: test/Tenancy/Admin.test.ts)
      yield* Effect.flatMap(UsersRepo, (users) => users.setPlatformAdmin(ADMIN_EMAIL, true))
      const requestId = `admin-put-${unique()}`
      const put = yield* req(
        "PUT",
        `/api/v1/orgs/${t.orgId}/limits`,
        { ...admin, requestId },
        { rateLimit: { apiKeyRequestsPerMinute: 5 }, quotas: { apiKeys: 3 } }
      )
      expect(ok(put)).toMatchObject({
        rateLimit: { requestsPerMinute: ORG_PER_MINUTE, apiKeyRequestsPerMinute: 5 },
        quotas: { apiKeys: 3 }
      })
      // the owner sees the change; the key's bucket now refuses its sixth request
      expect(ok(yield* limitsOf(t.slug, t.owner)).rateLimit).toMatchObject({ apiKeyRequestsPerMinute: 5 })
      const statuses: Array<number> = []
      for (let i = 0; i < 7; i++) statuses.push((yield* req("GET", "/api/v1/logs", { key: t.key })).status)
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429])

      const audit = ok(yield* req("GET", `/api/v1/orgs/${t.slug}/audit-log?action=limits.updated`, t.owner))
      const rows = audit.entries as Array<Record<string, unknown>>
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ actorType: "user", action: "limits.updated", requestId })
      expect(rows[0]!.changes).toMatchObject({
        patch: { quotas: { apiKeys: 3 } },
        before: { quotas: { apiKeys: 50 } },
        after: { quotas: { apiKeys: 3 } }
      })

      const restored = ok(
        yield* req("PUT", `/api/v1/orgs/${t.slug}/limits`, admin, { rateLimit: { apiKeyRequestsPerMinute: null } })
      )
      expect(restored).toMatchObject({ rateLimit: { apiKeyRequestsPerMinute: 3000 }, quotas: { apiKeys: 3 } })
      expect((yield* req("PUT", `/api/v1/orgs/org_doesnotexist/limits`, admin, {})).status).toBe(404)
      const invalid = yield* req("PUT", `/api/v1/orgs/${t.slug}/limits`, admin, { quotas: { apiKeys: -1 } })
      expect(invalid.status).toBe(400)
    })
  )

  it.effect("API keys past the organization's quota are refused with 403", () =>
    Effect.gen(function* () {
      const t = yield* tenant("keys")
      const admin = yield* user("root", ADMIN_EMAIL.replace("root-", "root2-"))
      // not an administrator (no flag): refused
      expect((yield* req("PUT", `/api/v1/orgs/${t.slug}/limits`, admin, { quotas: { apiKeys: 2 } })).status).toBe(403)
      const root = yield* req(
        "POST",
        "/api/v1/auth/login",
        {},
        { email: ADMIN_EMAIL, password: "correct horse battery" }
      )
      const token = ok(root).token as string
      ok(yield* req("PUT", `/api/v1/orgs/${t.slug}/limits`, { token }, { quotas: { apiKeys: 2 } }))
      const create = () =>
        req("POST", `/api/v1/orgs/${t.slug}/projects/${t.projectId}/api-keys`, t.owner, { name: "n", type: "write" })
      ok(yield* create(), 201)
      const third = yield* create()
      expect(third.status).toBe(429)
      expect(third.json).toMatchObject({ error: true, code: 429, name: "LimitReached" })
      expect(third.headers.get("retry-after")).toBe("3600")
      expect(ok(yield* limitsOf(t.slug, t.owner)).usage).toMatchObject({ apiKeys: 2 })
    })
  )

  it.effect("a quota exhausted in the middle of a batch: a clean 429 saying what was stored, counters exact", () =>
    Effect.gen(function* () {
      const t = yield* tenant("quota")
      const login = yield* req(
        "POST",
        "/api/v1/auth/login",
        {},
        { email: ADMIN_EMAIL, password: "correct horse battery" }
      )
      ok(
        yield* req(
          "PUT",
          `/api/v1/orgs/${t.slug}/limits`,
          { token: ok(login).token as string },
          { quotas: { ingestEventsPerMonth: 150 } }
        )
      )

      ok(yield* req("POST", "/api/v1/ingest", { key: t.key }, entries(100, "first")))
      const batch: Array<unknown> = entries(100, "second")
      batch[3] = { service: "svc", level: "loud", message: "bad level" }
      batch[70] = { service: "svc", level: "info" }
      const cut = yield* req("POST", "/api/v1/ingest", { key: t.key, requestId: `cut-${unique()}` }, { logs: batch })
      expect(cut.status).toBe(429)
      expect(cut.json).toMatchObject({ error: true, code: 429, name: "QuotaExceeded" })
      expect(Number(cut.headers.get("retry-after"))).toBeGreaterThan(0)
      const detail = (
        cut.json.details as Array<{ received: number; rejected: Array<{ index: number; reason: string }> }>
      )[0]!
      expect(detail.received).toBe(50)
      // valid entries are 0..99 minus 3 and 70: the first 50 of them are 0..50 without 3
      const stored = Array.from({ length: 51 }, (_, i) => i).filter((i) => i !== 3)
      const refusedIndexes = detail.rejected.filter((r) => r.reason === "quota exceeded").map((r) => r.index)
      expect(refusedIndexes).toEqual(Array.from({ length: 49 }, (_, i) => i + 51).filter((i) => i !== 70))
      expect(detail.rejected.filter((r) => r.reason !== "quota exceeded").map((r) => r.index)).toEqual([3, 70])

      const search = ok(yield* req("GET", "/api/v1/logs?limit=1000", { key: t.key }))
      const messages = new Set((search.logs as Array<{ message: string }>).map((l) => l.message))
      expect(messages.size).toBe(150)
      for (const i of stored) expect(messages.has(`second ${i}`)).toBe(true)
      for (const i of refusedIndexes) expect(messages.has(`second ${i}`)).toBe(false)

      const full = yield* req("POST", "/api/v1/ingest", { key: t.key }, entries(1, "third"))
      expect(full.status).toBe(429)
      expect(full.json.details).toBeUndefined()
      expect(ok(yield* limitsOf(t.slug, t.owner)).usage).toMatchObject({ ingestEventsThisMonth: 150 })
    })
  )
})
