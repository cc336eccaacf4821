/**
 * The tenancy routes over real HTTP (the platform's wiring, random port), a fresh migrated Postgres database and
 * real Redis: the whole flow, cross-tenant isolation over every organization route, cookies, session expiry,
 * logout, brute-force limits and audit rows.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { BruteForce } from "../../src/Tenancy/BruteForce.js"
import { asOwner } from "../support/Database.js"
import { type Reply, tenancyServer } from "./Support.js"
import { send } from "../Http/support/TestServer.js"

// Every test registers and logs in from 127.0.0.1: the per-IP limit is raised here and lowered by the brute-force test.
const server = tenancyServer("tenancy", {
  THREADLINE_SECURE_COOKIES: "true",
  THREADLINE_SESSION_TTL_SECONDS: "3600",
  THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000"
})

const req = send

const unique = () => randomBytes(4).toString("hex")
const PASSWORD = "correct horse battery"

/** A registered, logged-in user: its session token and id. */
const user = (label: string) =>
  Effect.gen(function* () {
    const email = `${label}-${unique()}@example.com`
    const reg = yield* req("POST", "/api/v1/auth/register", { body: { email, password: PASSWORD, name: label } })
    expect(reg.status).toBe(201)
    const login = yield* req("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } })
    expect(login.status).toBe(200)
    return { email, id: reg.json.id as string, token: login.json.token as string, login }
  })

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  expect(res.status).toBe(status)
  return res.json
}

layer(server.layer, { timeout: 120_000 })("tenancy", (it) => {
  it.effect("register → login → org → project → key → use it → revoke → 401", () =>
    Effect.gen(function* () {
      const alice = yield* user("alice")
      const me = ok(yield* req("GET", "/api/v1/auth/me", { token: alice.token }))
      expect(me).toMatchObject({ user: { id: alice.id, email: alice.email }, organizations: [] })

      const slug = `acme-${unique()}`
      const org = ok(yield* req("POST", "/api/v1/orgs", { token: alice.token, body: { slug, name: "Acme" } }), 201)
      expect(org).toMatchObject({ slug, name: "Acme", role: "owner" })
      const orgId = org.id as string
      const listed = ok(yield* req("GET", "/api/v1/orgs", { token: alice.token }))
      expect(listed.organizations).toEqual([{ id: orgId, slug, name: "Acme", role: "owner" }])
      ok(yield* req("GET", `/api/v1/orgs/${orgId}`, { token: alice.token }))

      const project = ok(
        yield* req("POST", `/api/v1/orgs/${orgId}/projects`, { token: alice.token, body: { name: "web" } }),
        201
      )
      const projectPath = `/api/v1/orgs/${orgId}/projects/${project.id as string}`
      const key = ok(
        yield* req("POST", `${projectPath}/api-keys`, { token: alice.token, body: { name: "ci", type: "full" } }),
        201
      )
      const secret = key.secret as string
      expect(secret).toMatch(/^tl_[A-Za-z0-9_-]{43}$/)
      expect(secret.startsWith(key.prefix as string)).toBe(true)
      // The secret is shown once: lists never carry it.
      const keys = ok(yield* req("GET", `${projectPath}/api-keys`, { token: alice.token }))
      expect(JSON.stringify(keys)).not.toContain(secret)
      expect(keys.keys).toHaveLength(1)

      // An API-key-authenticated route (ReadAuthentication, as logs search) accepts the key, under its tenant…
      const probe = ok(yield* req("GET", "/test/key-probe", { headers: { "x-api-key": secret } }))
      expect(probe).toEqual({ organizationId: orgId, projectId: project.id, apiKeyId: key.id })
      // …and a session-only route refuses it.
      expect((yield* req("GET", "/api/v1/auth/me", { headers: { "x-api-key": secret } })).status).toBe(401)

      // Use is recorded (in the background, debounced): last_used_at gets set.
      const lastUsed = yield* asOwner((c) =>
        c.query<{ n: number }>(`SELECT count(*)::int AS n FROM api_keys WHERE id = $1 AND last_used_at IS NOT NULL`, [
          key.id
        ])
      ).pipe(
        Effect.filterOrFail((r) => r.rows[0]?.n === 1),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.compose(Schedule.recurs(50))))
      )
      expect(lastUsed.rows[0]?.n).toBe(1)
      ok(yield* req("DELETE", `${projectPath}/api-keys/${key.id as string}`, { token: alice.token }), 204)
      const after = yield* req("GET", "/test/key-probe", { headers: { "x-api-key": secret } })
      expect(after.status).toBe(401)
      expect(after.json).toMatchObject({ error: true, code: 401, name: "Unauthorized" })
      // Revoking twice: 404, and no second audit row.
      expect((yield* req("DELETE", `${projectPath}/api-keys/${key.id as string}`, { token: alice.token })).status).toBe(
        404
      )

      const actions = yield* asOwner((c) =>
        c.query<{ action: string }>(`SELECT action FROM audit_log WHERE organization_id = $1 ORDER BY id`, [orgId])
      )
      expect(actions.rows.map((r) => r.action)).toEqual([
        "organization.create",
        "project.create",
        "api_key.create",
        "api_key.revoke"
      ])
    })
  )

  it.effect("validation 400 with paths; a taken email changes nothing; duplicate slug 409; wrong password 401", () =>
    Effect.gen(function* () {
      const bad = yield* req("POST", "/api/v1/auth/register", { body: { email: "nope", password: "short", name: "" } })
      expect(bad.status).toBe(400)
      expect(JSON.stringify(bad.json.details)).toContain("email")
      expect(JSON.stringify(bad.json.details)).toContain("password")
      const bob = yield* user("bob")
      // the same answer as a new registration (tests/Tenancy/Registration.test.ts), and bob's account is untouched
      const dup = yield* req("POST", "/api/v1/auth/register", {
        body: { email: bob.email.toUpperCase(), password: "another password", name: "x" }
      })
      expect(dup.status).toBe(201)
      expect(dup.json.id).not.toBe(bob.id)
      expect(
        (yield* req("POST", "/api/v1/auth/login", { body: { email: bob.email, password: "another password" } })).status
      ).toBe(401)
      const wrong = yield* req("POST", "/api/v1/auth/login", { body: { email: bob.email, password: "wrong password" } })
      expect(wrong.status).toBe(401)
      const nobody = yield* req("POST", "/api/v1/auth/login", {
        body: { email: `nobody-${unique()}@example.com`, password: PASSWORD }
      })
      expect(nobody.status).toBe(401)
      expect(nobody.json.message).toBe(wrong.json.message)
      const slug = `dup-${unique()}`
      ok(yield* req("POST", "/api/v1/orgs", { token: bob.token, body: { slug, name: "One" } }), 201)
      expect((yield* req("POST", "/api/v1/orgs", { token: bob.token, body: { slug, name: "Two" } })).status).toBe(409)
    })
  )

  it.effect("login cookie flags; the cookie authenticates; logout revokes and clears it", () =>
    Effect.gen(function* () {
      const carol = yield* user("carol")
      const cookie = carol.login.headers.get("set-cookie") ?? ""
      expect(cookie).toMatch(new RegExp(`^threadline_session=${carol.token};`))
      const flags = cookie.split(";").map((s) => s.trim().toLowerCase())
      expect(flags).toContain("httponly")
      expect(flags).toContain("samesite=strict")
      expect(flags).toContain("secure")
      expect(flags).toContain("path=/")
      expect(flags).toContain("max-age=3600")
      const viaCookie = yield* req("GET", "/api/v1/auth/me", {
        headers: { cookie: `threadline_session=${carol.token}` }
      })
      expect(viaCookie.status).toBe(200)

      const out = yield* req("POST", "/api/v1/auth/logout", { token: carol.token })
      expect(out.status).toBe(204)
      const cleared = out.headers.get("set-cookie") ?? ""
      expect(cleared).toMatch(/^threadline_session=;/)
      expect(cleared.toLowerCase()).toContain("max-age=0")
      expect((yield* req("GET", "/api/v1/auth/me", { token: carol.token })).status).toBe(401)
    })
  )

  it.effect("an expired session is 401; a used session slides its expiry", () =>
    Effect.gen(function* () {
      const dave = yield* user("dave")
      const erin = yield* user("erin")
      // Sliding: the login wrote expires_at = now + TTL; pull it back, use the session, it moves forward again.
      yield* asOwner((c) =>
        c.query(`UPDATE sessions SET expires_at = now() + interval '5 minutes' WHERE user_id = $1`, [erin.id])
      )
      ok(yield* req("GET", "/api/v1/auth/me", { token: erin.token }))
      const slid = yield* asOwner((c) =>
        c.query<{ s: number }>(
          `SELECT extract(epoch FROM expires_at - now())::int AS s FROM sessions WHERE user_id = $1`,
          [erin.id]
        )
      )
      expect(slid.rows[0]?.s).toBeGreaterThan(3000)

      yield* asOwner((c) =>
        c.query(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [dave.id])
      )
      const res = yield* req("GET", "/api/v1/auth/me", { token: dave.token })
      expect(res.status).toBe(401)
      expect(res.json).toMatchObject({ error: true, code: 401, name: "Unauthorized" })
    })
  )

  it.effect("audit rows carry the request id of the request that wrote them", () =>
    Effect.gen(function* () {
      const email = `frank-${unique()}@example.com`
      const requestId = `test-req-${unique()}`
      const reg = yield* req("POST", "/api/v1/auth/register", {
        body: { email, password: PASSWORD, name: "frank" },
        headers: { "x-request-id": requestId }
      })
      expect(reg.status).toBe(201)
      expect(reg.headers.get("x-request-id")).toBe(requestId)
      const rows = yield* asOwner((c) =>
        c.query<{ action: string; request_id: string; actor_id: string; organization_id: string }>(
          `SELECT action, request_id, actor_id, organization_id FROM audit_log WHERE target_id = $1`,
          [reg.json.id]
        )
      )
      expect(rows.rows).toEqual([
        { action: "user.register", request_id: requestId, actor_id: reg.json.id, organization_id: "org_system" }
      ])
    })
  )

  it.effect("brute force: the limit gives 429 with Retry-After, per email and per IP", () =>
    Effect.gen(function* () {
      const bf = yield* BruteForce
      yield* bf.configure({ windowSeconds: 120, perIp: 1000, perEmail: 3, delayBaseSeconds: 60 })
      const target = yield* user("grace")
      const attempts: Array<number> = []
      for (let i = 0; i < 4; i++) {
        attempts.push(
          (yield* req("POST", "/api/v1/auth/login", { body: { email: target.email, password: "x-wrong" } })).status
        )
      }
      // Only failures count (the login inside user() succeeded): the third arms a delay, the fourth waits for it.
      expect(attempts).toEqual([401, 401, 401, 429])
      const limited = yield* req("POST", "/api/v1/auth/login", { body: { email: target.email, password: PASSWORD } })
      expect(limited.status).toBe(429)
      const retryAfter = Number(limited.headers.get("retry-after"))
      expect(retryAfter).toBeGreaterThan(0)
      expect(retryAfter).toBeLessThanOrEqual(60)
      expect(limited.json).toMatchObject({ error: true, code: 429, name: "TooManyRequests" })

      // Per IP: every email is new, the shared address runs out.
      yield* bf.configure({ windowSeconds: 120, perIp: 0, perEmail: 1000 })
      const byIp = yield* req("POST", "/api/v1/auth/register", {
        body: { email: `h-${unique()}@example.com`, password: PASSWORD, name: "h" }
      })
      expect(byIp.status).toBe(429)
      yield* bf.configure({ windowSeconds: 900, perIp: 1000, perEmail: 10, delayBaseSeconds: 1 })
    })
  )

  it.effect("every organization route: another org's member gets 404, a `member` gets 403 on admin actions", () =>
    Effect.gen(function* () {
      const a = yield* user("owner-a")
      const b = yield* user("owner-b")
      const m = yield* user("member-a")
      const setup = (owner: { token: string }, label: string) =>
        Effect.gen(function* () {
          const slug = `${label}-${unique()}`
          const org = ok(yield* req("POST", "/api/v1/orgs", { token: owner.token, body: { slug, name: label } }), 201)
          const base = `/api/v1/orgs/${org.id as string}`
          const prj = ok(yield* req("POST", `${base}/projects`, { token: owner.token, body: { name: "p" } }), 201)
          const key = ok(
            yield* req("POST", `${base}/projects/${prj.id as string}/api-keys`, {
              token: owner.token,
              body: { name: "k", type: "write" }
            }),
            201
          )
          const inv = ok(
            yield* req("POST", `${base}/invitations`, {
              token: owner.token,
              body: { email: "x@example.com", role: "member" }
            }),
            201
          )
          return {
            org: org.id as string,
            project: prj.id as string,
            key: key.id as string,
            invitation: inv.id as string
          }
        })
      const A = yield* setup(a, "org-a")
      const B = yield* setup(b, "org-b")
      const invited = ok(
        yield* req("POST", `/api/v1/orgs/${A.org}/invitations`, {
          token: a.token,
          body: { email: m.email, role: "member" }
        }),
        201
      )
      ok(yield* req("POST", "/api/v1/invitations/accept", { token: m.token, body: { token: invited.token } }))

      type Route = { method: string; path: (o: typeof A) => string; body?: unknown; admin: boolean }
      const routes: ReadonlyArray<Route> = [
        { method: "GET", path: (o) => `/api/v1/orgs/${o.org}`, admin: false },
        { method: "GET", path: (o) => `/api/v1/orgs/${o.org}/members`, admin: false },
        { method: "GET", path: (o) => `/api/v1/orgs/${o.org}/invitations`, admin: true },
        {
          method: "POST",
          path: (o) => `/api/v1/orgs/${o.org}/invitations`,
          body: { email: b.email, role: "member" },
          admin: true
        },
        { method: "DELETE", path: (o) => `/api/v1/orgs/${o.org}/invitations/${o.invitation}`, admin: true },
        { method: "DELETE", path: (o) => `/api/v1/orgs/${o.org}/members/${a.id}`, admin: true },
        { method: "GET", path: (o) => `/api/v1/orgs/${o.org}/projects`, admin: false },
        { method: "POST", path: (o) => `/api/v1/orgs/${o.org}/projects`, body: { name: "x" }, admin: true },
        { method: "GET", path: (o) => `/api/v1/orgs/${o.org}/projects/${o.project}`, admin: false },
        { method: "DELETE", path: (o) => `/api/v1/orgs/${o.org}/projects/${o.project}`, admin: true },
        { method: "GET", path: (o) => `/api/v1/orgs/${o.org}/projects/${o.project}/api-keys`, admin: false },
        {
          method: "POST",
          path: (o) => `/api/v1/orgs/${o.org}/projects/${o.project}/api-keys`,
          body: { name: "x", type: "full" },
          admin: true
        },
        { method: "DELETE", path: (o) => `/api/v1/orgs/${o.org}/projects/${o.project}/api-keys/${o.key}`, admin: true }
      ]
      for (const route of routes) {
        const options = route.body === undefined ? {} : { body: route.body }
        // Owner of A on B's resources (and B's ids under A's org): nothing is revealed.
        const cross = yield* req(route.method, route.path(B), { token: a.token, ...options })
        expect({ route: route.path(B), status: cross.status }).toEqual({ route: route.path(B), status: 404 })
        expect(cross.json).toMatchObject({ error: true, code: 404, name: "NotFound" })
        const mixed = yield* req(route.method, route.path({ ...B, org: A.org }), { token: a.token, ...options })
        if (route.path(B).includes("/projects/") || route.path(B).includes("/invitations/")) {
          expect(mixed.status).toBe(404)
        }
        // A `member` of A: reads pass, changes are 403.
        const asMember = yield* req(route.method, route.path(A), { token: m.token, ...options })
        expect({ route: route.method + " " + route.path(A), status: asMember.status }).toEqual({
          route: route.method + " " + route.path(A),
          status: route.admin ? 403 : 200
        })
      }
      // Nothing of B changed: its project and key are still there, and nobody joined it.
      const keysB = ok(yield* req("GET", `/api/v1/orgs/${B.org}/projects/${B.project}/api-keys`, { token: b.token }))
      expect(keysB.keys).toMatchObject([{ id: B.key, revokedAt: null }])
      const membersB = ok(yield* req("GET", `/api/v1/orgs/${B.org}/members`, { token: b.token }))
      expect((membersB.members as Array<{ userId: string }>).map((x) => x.userId)).toEqual([b.id])
      const invitationsB = ok(yield* req("GET", `/api/v1/orgs/${B.org}/invitations`, { token: b.token }))
      expect((invitationsB.invitations as Array<{ id: string }>).map((x) => x.id)).toEqual([B.invitation])
    })
  )
})
