/**
 * The authentication middleware and OrgAccess over real HTTP, with the test credential implementation on real
 * Postgres tables: which credential is used, the error each case gets, the context handlers see, and organization
 * routes (404 for non-members and unknown organizations alike, 403 for a missing role).
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SYSTEM_ORGANIZATION_ID } from "../../src/RequestContext.js"
import { ownerSql, seed } from "./support/TestCredentials.js"
import { baseUrl, call, testServer } from "./support/TestServer.js"

const server = testServer({ label: "auth" })

const get = (path: string, headers: Record<string, string> = {}) =>
  Effect.flatMap(baseUrl, (base) => call(`${base}${path}`, { headers }))

layer(server.layer, { timeout: 60_000 })("authentication", (it) => {
  it.effect("API keys in X-API-Key or Bearer tl_…, with the key's tenant in the context", () =>
    Effect.gen(function* () {
      const fx = yield* seed
      for (const headers of [{ "x-api-key": fx.keys.full }, { authorization: `Bearer ${fx.keys.full}` }]) {
        const res = yield* get("/probe/any", headers)
        expect(res.status).toBe(200)
        expect(res.json).toMatchObject({
          kind: "ApiKey",
          organizationId: fx.orgA.id,
          projectId: fx.projectA,
          apiKeyId: fx.keyIds.full,
          userId: null
        })
      }
      expect((yield* get("/probe/keys", { "x-api-key": fx.keys.write })).json.apiKeyId).toBe(fx.keyIds.write)
    })
  )

  it.effect("traceparent: a valid one continues its trace, anything else starts a new one", () =>
    Effect.gen(function* () {
      const fx = yield* seed
      const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
      const res = yield* get("/probe/any", { "x-api-key": fx.keys.full, traceparent: incoming })
      const tp = String(res.json.traceparent)
      expect(tp.slice(0, 36)).toBe(incoming.slice(0, 36))
      expect(tp).not.toBe(incoming)
      const fresh = String(
        (yield* get("/probe/any", { "x-api-key": fx.keys.full, traceparent: "garbage" })).json.traceparent
      )
      expect(fresh).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      expect(fresh.slice(3, 35)).not.toBe(incoming.slice(3, 35))
    })
  )

  it.effect("sessions from the cookie or Bearer run under org_system with the user as actor", () =>
    Effect.gen(function* () {
      const fx = yield* seed
      for (const headers of [
        { cookie: `threadline_session=${fx.sessions.owner}` },
        { authorization: `Bearer ${fx.sessions.owner}` }
      ]) {
        const res = yield* get("/probe/session", headers)
        expect(res.status).toBe(200)
        expect(res.json).toMatchObject({
          kind: "Session",
          organizationId: SYSTEM_ORGANIZATION_ID,
          projectId: null,
          userId: fx.users.owner,
          apiKeyId: null
        })
      }
    })
  )

  it.effect("each failure gets its own 401 message, whichever scheme comes last", () =>
    Effect.gen(function* () {
      const fx = yield* seed
      const cases: ReadonlyArray<[string, Record<string, string>, string]> = [
        ["/probe/any", {}, "missing credentials"],
        ["/probe/any", { "x-api-key": "" }, "empty X-API-Key"],
        ["/probe/any", { "x-api-key": "tl_not-a-key" }, "invalid API key"],
        ["/probe/any", { "x-api-key": fx.keys.revoked }, "invalid API key"],
        // a present but invalid key is not silently replaced by a valid session
        [
          "/probe/any",
          { "x-api-key": "tl_wrong", cookie: `threadline_session=${fx.sessions.owner}` },
          "invalid API key"
        ],
        ["/probe/any", { authorization: "Bearer " }, "empty bearer token"],
        ["/probe/any", { authorization: "Basic dXNlcjpwYXNz" }, "unsupported Authorization scheme; use Bearer"],
        ["/probe/session", { cookie: `threadline_session=${fx.sessions.expired}` }, "invalid or expired session"],
        ["/probe/session", { authorization: `Bearer ${fx.sessions.revoked}` }, "invalid or expired session"],
        ["/probe/session", { "x-api-key": fx.keys.full }, "this endpoint requires a session"],
        ["/probe/keys", { cookie: `threadline_session=${fx.sessions.owner}` }, "this endpoint requires an API key"]
      ]
      for (const [path, headers, message] of cases) {
        const res = yield* get(path, headers)
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401)
        expect(res.json).toMatchObject({ name: "Unauthorized", message })
      }
    })
  )

  it.effect("reading needs a full key or a session; a write key is 403", () =>
    Effect.gen(function* () {
      const fx = yield* seed
      const write = yield* get("/probe/read", { "x-api-key": fx.keys.write })
      expect(write.status).toBe(403)
      expect(write.json.name).toBe("Forbidden")
      expect((yield* get("/probe/read", { "x-api-key": fx.keys.full })).status).toBe(200)
      expect((yield* get("/probe/read", { cookie: `threadline_session=${fx.sessions.member}` })).status).toBe(200)
    })
  )

  it.effect("organization routes: members by id or slug, 404 for everyone else, 403 for a missing role", () =>
    Effect.gen(function* () {
      const fx = yield* seed
      const owner = { authorization: `Bearer ${fx.sessions.owner}` }
      const member = { authorization: `Bearer ${fx.sessions.member}` }
      const outsider = { authorization: `Bearer ${fx.sessions.outsider}` }
      for (const ref of [fx.orgA.slug, fx.orgA.id]) {
        const res = yield* get(`/probe/orgs/${ref}`, owner)
        expect(res.status).toBe(200)
        expect(res.json).toMatchObject({ organizationId: fx.orgA.id, userId: fx.users.owner, role: "owner" })
      }
      const viaMember = yield* get(`/probe/orgs/${fx.orgA.slug}`, member)
      const line = server.accessLog.lines.find((l) => l.requestId === viaMember.json.requestId)
      expect(line).toMatchObject({
        organizationId: fx.orgA.id,
        route: "/probe/orgs/:org",
        actor: `user:${fx.users.member}`
      })
      const hidden = yield* get(`/probe/orgs/${fx.orgA.slug}`, outsider)
      const unknown = yield* get(`/probe/orgs/no-such-org-here`, outsider)
      const malformed = yield* get(`/probe/orgs/Not_A_Slug!`, outsider)
      for (const res of [hidden, unknown, malformed]) {
        expect(res.status).toBe(404)
        expect(res.json.message).toBe("organization not found")
      }
      const base = yield* baseUrl
      const adminAsMember = yield* call(`${base}/probe/orgs/${fx.orgA.slug}/settings`, {
        method: "DELETE",
        headers: member
      })
      expect(adminAsMember.status).toBe(403)
      const adminAsOwner = yield* call(`${base}/probe/orgs/${fx.orgA.slug}/settings`, {
        method: "DELETE",
        headers: owner
      })
      expect(adminAsOwner.status).toBe(200)
      const adminAsOutsider = yield* call(`${base}/probe/orgs/${fx.orgA.slug}/settings`, {
        method: "DELETE",
        headers: outsider
      })
      expect(adminAsOutsider.status).toBe(404)
    })
  )

  it.effect("membership is checked on every request (not cached): a removed member gets 404 at once", () =>
    Effect.gen(function* () {
      const fx = yield* seed
      const sql = yield* ownerSql
      const member = { authorization: `Bearer ${fx.sessions.member}` }
      expect((yield* get(`/probe/orgs/${fx.orgA.slug}`, member)).status).toBe(200)
      yield* sql`DELETE FROM organization_members WHERE user_id = ${fx.users.member}`.pipe(Effect.orDie)
      expect((yield* get(`/probe/orgs/${fx.orgA.slug}`, member)).status).toBe(404)
    })
  )
})
