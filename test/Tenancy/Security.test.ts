/**
 * Account security over real HTTP, Postgres and Redis, at the default scrypt cost: the cost upgrade at login;
 * owner removal under a lock; the per-user organization limit; sign-out everywhere and the absolute session
 * lifetime. The brute-force limits: BruteForce.test.ts.
 */
import { randomBytes, scryptSync } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { asOwner } from "../support/Database.js"
import { tenancyServer } from "./Support.js"
import { login, PASSWORD, register, req, resetBruteForce, unique, user } from "./SecuritySupport.js"

const server = tenancyServer("tenancy_security", {
  THREADLINE_SECURE_COOKIES: "true",
  THREADLINE_SESSION_TTL_SECONDS: "3600",
  THREADLINE_SESSION_ABSOLUTE_TTL_SECONDS: "600",
  THREADLINE_MAX_ORGANIZATIONS_PER_USER: "3",
  THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000"
})

layer(server.layer, { timeout: 120_000 })("account security", (it) => {
  it.effect("passwords: new hashes use N = 2^17; an older-cost hash is upgraded at the next successful login", () =>
    Effect.gen(function* () {
      yield* resetBruteForce
      const u = yield* register("rehash")
      const stored = () =>
        Effect.map(
          asOwner((c) => c.query<{ h: string }>(`SELECT password_hash AS h FROM users WHERE id = $1`, [u.id])),
          (r) => r.rows[0]?.h ?? ""
        )
      expect(yield* stored()).toMatch(/^scrypt\$131072\$8\$1\$/)
      // the user's row as the previous release wrote it: N = 2^15
      const salt = randomBytes(16)
      const key = scryptSync(PASSWORD, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
      const old = `scrypt$32768$8$1$${salt.toString("base64url")}$${key.toString("base64url")}`
      yield* asOwner((c) => c.query(`UPDATE users SET password_hash = $1 WHERE id = $2`, [old, u.id]))
      // a wrong password changes nothing
      expect((yield* login(u.email, "wrong password")).status).toBe(401)
      expect(yield* stored()).toBe(old)
      expect((yield* login(u.email)).status).toBe(200)
      const upgraded = yield* stored()
      expect(upgraded).toMatch(/^scrypt\$131072\$8\$1\$/)
      expect(upgraded).not.toBe(old)
      expect((yield* login(u.email)).status).toBe(200)
      expect(yield* stored()).toBe(upgraded)
      expect((yield* login(u.email, "wrong password")).status).toBe(401)
    })
  )
  it.effect("owners: two owners removing each other at once leave exactly one; an admin cannot remove an owner", () =>
    Effect.gen(function* () {
      yield* resetBruteForce
      const alice = yield* user("owner-1")
      const bob = yield* user("owner-2")
      const carol = yield* user("admin-1")
      // fixtures in SQL (not through a membership route): one organization per round, alice and bob owners
      const newOrg = (owners: ReadonlyArray<string>, admins: ReadonlyArray<string> = []) =>
        Effect.gen(function* () {
          const id = `org_${randomBytes(10).toString("hex")}`
          yield* asOwner(async (c) => {
            await c.query(`INSERT INTO organizations (id, slug, name) VALUES ($1, $2, 'race')`, [
              id,
              `race-${unique()}`
            ])
            for (const [role, users] of [
              ["owner", owners],
              ["admin", admins]
            ] as const) {
              for (const u of users) {
                await c.query(`INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3)`, [
                  id,
                  u,
                  role
                ])
              }
            }
          })
          return id
        })
      const owners = (org: string) =>
        Effect.map(
          asOwner((c) =>
            c.query<{ user_id: string }>(
              `SELECT user_id FROM organization_members WHERE organization_id = $1 AND role = 'owner'`,
              [org]
            )
          ),
          (r) => r.rows.map((x) => x.user_id)
        )

      for (let round = 0; round < 8; round++) {
        const org = yield* newOrg([alice.id, bob.id])
        const [byAlice, byBob] = yield* Effect.all(
          [
            req("DELETE", `/api/v1/orgs/${org}/members/${bob.id}`, { token: alice.token }),
            req("DELETE", `/api/v1/orgs/${org}/members/${alice.id}`, { token: bob.token })
          ],
          { concurrency: 2 }
        )
        const statuses = [byAlice.status, byBob.status].sort()
        expect({ round, statuses }).toMatchObject({ round, statuses: [204, expect.any(Number)] })
        expect([403, 404, 409]).toContain(statuses[1])
        const loser = byAlice.status === 204 ? byBob : byAlice
        expect(loser.json).toMatchObject({ error: true, code: statuses[1] })
        expect(yield* owners(org)).toEqual([byAlice.status === 204 ? alice.id : bob.id])
      }

      const org = yield* newOrg([alice.id, bob.id], [carol.id])
      const refused = yield* req("DELETE", `/api/v1/orgs/${org}/members/${alice.id}`, { token: carol.token })
      expect(refused.status).toBe(403)
      expect(refused.json).toMatchObject({ error: true, code: 403, name: "Forbidden" })
      expect((yield* owners(org)).sort()).toEqual([alice.id, bob.id].sort())
      // an owner removes an owner; the last owner cannot leave
      expect((yield* req("DELETE", `/api/v1/orgs/${org}/members/${bob.id}`, { token: alice.token })).status).toBe(204)
      const last = yield* req("DELETE", `/api/v1/orgs/${org}/members/${alice.id}`, { token: alice.token })
      expect(last.status).toBe(409)
      expect(last.json).toMatchObject({ error: true, code: 409, name: "Conflict" })
      // an admin still removes an admin-or-below
      expect((yield* req("DELETE", `/api/v1/orgs/${org}/members/${carol.id}`, { token: alice.token })).status).toBe(204)
    })
  )
  it.effect(
    "organizations: a user belongs to at most the configured number; concurrent creations do not overshoot",
    () =>
      Effect.gen(function* () {
        yield* resetBruteForce
        const dana = yield* user("many-orgs")
        const create = (name: string) => req("POST", "/api/v1/orgs", { token: dana.token, body: { name } })
        expect((yield* create("one")).status).toBe(201)
        expect((yield* create("two")).status).toBe(201)
        // at 2 of 3: three at once, exactly one passes
        const racing = yield* Effect.all([create("a"), create("b"), create("c")], { concurrency: 3 })
        expect(racing.map((r) => r.status).sort()).toEqual([201, 429, 429])
        const refused = racing.find((r) => r.status === 429)!
        expect(refused.json).toMatchObject({ error: true, code: 429, name: "TooManyRequests" })
        expect(refused.json.message).toContain("at most 3 organizations")
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
        const listed = yield* req("GET", "/api/v1/orgs", { token: dana.token })
        expect(listed.json.organizations).toHaveLength(3)
        // memberships count too, not only creations: leaving one frees a place
        const count = yield* asOwner((c) =>
          c.query<{ n: number }>(`SELECT count(*)::int AS n FROM organization_members WHERE user_id = $1`, [dana.id])
        )
        expect(count.rows[0]?.n).toBe(3)
        yield* asOwner((c) =>
          c.query(
            `DELETE FROM organization_members WHERE user_id = $1 AND organization_id = (
             SELECT organization_id FROM organization_members WHERE user_id = $1 LIMIT 1)`,
            [dana.id]
          )
        )
        expect((yield* create("again")).status).toBe(201)
      })
  )
  it.effect(
    "organizations: accepting an invitation counts too; at the limit it is 429 and the token stays usable",
    () =>
      Effect.gen(function* () {
        yield* resetBruteForce
        const host = yield* user("inviter")
        const guest = yield* user("full-guest")
        const org = yield* req("POST", "/api/v1/orgs", { token: host.token, body: { name: "guest-house" } })
        const invite = yield* req("POST", `/api/v1/orgs/${org.json.id as string}/invitations`, {
          token: host.token,
          body: { email: "someone@example.com", role: "member" }
        })
        expect(invite.status).toBe(201)
        for (const name of ["g1", "g2", "g3"]) {
          expect((yield* req("POST", "/api/v1/orgs", { token: guest.token, body: { name } })).status).toBe(201)
        }
        const accept = () =>
          req("POST", "/api/v1/invitations/accept", { token: guest.token, body: { token: invite.json.token } })
        const refused = yield* accept()
        expect(refused.status).toBe(429)
        expect(refused.json).toMatchObject({ error: true, code: 429, name: "TooManyRequests" })
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
        const members = yield* asOwner((c) =>
          c.query(`SELECT 1 FROM organization_members WHERE organization_id = $1 AND user_id = $2`, [
            org.json.id,
            guest.id
          ])
        )
        expect(members.rowCount).toBe(0)
        // leaving one organization makes room; the same token still works
        yield* asOwner((c) =>
          c.query(
            `DELETE FROM organization_members WHERE user_id = $1 AND organization_id = (
           SELECT organization_id FROM organization_members WHERE user_id = $1 LIMIT 1)`,
            [guest.id]
          )
        )
        expect((yield* accept()).status).toBe(200)
      })
  )
  it.effect("sessions: logout-all revokes every session of the user, clears the cookie, keeps API keys", () =>
    Effect.gen(function* () {
      yield* resetBruteForce
      const erin = yield* user("everywhere")
      const second = (yield* login(erin.email)).json.token as string
      const other = yield* user("bystander")
      const org = yield* req("POST", "/api/v1/orgs", { token: erin.token, body: { name: "keys" } })
      const base = `/api/v1/orgs/${org.json.id as string}`
      const project = yield* req("POST", `${base}/projects`, { token: erin.token, body: { name: "p" } })
      const key = yield* req("POST", `${base}/projects/${project.json.id as string}/api-keys`, {
        token: erin.token,
        body: { name: "k", type: "full" }
      })
      expect(key.status).toBe(201)

      const out = yield* req("POST", "/api/v1/auth/logout-all", { token: second })
      expect(out.status).toBe(204)
      const cleared = out.headers.get("set-cookie") ?? ""
      expect(cleared).toMatch(/^threadline_session=;/)
      expect(cleared.toLowerCase()).toContain("max-age=0")
      for (const token of [erin.token, second]) {
        const res = yield* req("GET", "/api/v1/auth/me", { token })
        expect(res.status).toBe(401)
        expect(res.json).toMatchObject({ error: true, code: 401, name: "Unauthorized" })
      }
      // another user's session and the user's API keys are not sessions of this user
      expect((yield* req("GET", "/api/v1/auth/me", { token: other.token })).status).toBe(200)
      const probe = yield* req("GET", "/test/key-probe", { headers: { "x-api-key": key.json.secret as string } })
      expect(probe.status).toBe(200)
      const audit = yield* asOwner((c) =>
        c.query<{ action: string; actor_id: string; changes: unknown }>(
          `SELECT action, actor_id, changes FROM audit_log WHERE action = 'session.revoke_all' AND target_id = $1`,
          [erin.id]
        )
      )
      expect(audit.rows).toEqual([{ action: "session.revoke_all", actor_id: erin.id, changes: { sessions: 2 } }])
      // a new login works as before
      expect((yield* login(erin.email)).status).toBe(200)
    })
  )
  it.effect("sessions: an absolute lifetime ends a session however recently it was used", () =>
    Effect.gen(function* () {
      yield* resetBruteForce
      const fay = yield* register("absolute")
      const res = yield* login(fay.email)
      const token = res.json.token as string
      // the reply's expiry is the absolute lifetime (600 s here), shorter than the sliding TTL (3600 s)
      const left = (Date.parse(res.json.expiresAt as string) - Date.now()) / 1000
      expect(left).toBeGreaterThan(590)
      expect(left).toBeLessThanOrEqual(600)
      expect(res.headers.get("set-cookie")?.toLowerCase()).toMatch(/max-age=600(;|$)/)
      const session = (sql: string) =>
        asOwner((c) => c.query<{ s: number }>(sql, [fay.id])).pipe(Effect.map((r) => r.rows[0]?.s))

      // used constantly: the sliding expiry is far away, but the session was created 9 minutes ago → clamped
      yield* session(`UPDATE sessions SET created_at = now() - interval '9 minutes',
        expires_at = now() + interval '1 minute' WHERE user_id = $1`)
      expect((yield* req("GET", "/api/v1/auth/me", { token })).status).toBe(200)
      const remaining = yield* session(
        `SELECT extract(epoch FROM expires_at - now())::int AS s FROM sessions WHERE user_id = $1`
      )
      expect(remaining).toBeLessThanOrEqual(60)

      // older than the absolute lifetime: refused even with an expiry far ahead
      yield* session(`UPDATE sessions SET created_at = now() - interval '11 minutes',
        expires_at = now() + interval '50 minutes' WHERE user_id = $1`)
      const refused = yield* req("GET", "/api/v1/auth/me", { token })
      expect(refused.status).toBe(401)
      expect(refused.json).toMatchObject({ error: true, code: 401, name: "Unauthorized" })
    })
  )
})
