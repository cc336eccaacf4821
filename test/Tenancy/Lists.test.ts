/**
 * API.md conventions on the tenancy routes, over real HTTP, Postgres and Redis: every list pages with an opaque
 * `cursor` and returns `nextCursor`; the session cookie is Secure unless configured off (no setting here: the
 * default); an organization created with only a name gets a slug derived from it.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { type Reply, tenancyServer } from "./Support.js"
import { send } from "../Http/support/TestServer.js"

// no THREADLINE_SECURE_COOKIES: the default is under test
const server = tenancyServer("tenancy_lists", { THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000" })

const req = send

const unique = () => randomBytes(4).toString("hex")

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  expect(res.status).toBe(status)
  return res.json
}

const user = (label: string) =>
  Effect.gen(function* () {
    const email = `${label}-${unique()}@example.com`
    const password = "correct horse battery"
    ok(yield* req("POST", "/api/v1/auth/register", { body: { email, password, name: label } }), 201)
    const login = yield* req("POST", "/api/v1/auth/login", { body: { email, password } })
    return { email, token: ok(login).token as string, cookie: login.headers.get("set-cookie") ?? "" }
  })

/** Every page of a list, following `nextCursor` with `limit` only on the first request (as clients do). */
const allPages = (path: string, key: string, token: string, limit: number) =>
  Effect.gen(function* () {
    const pages: Array<ReadonlyArray<{ readonly id?: string; readonly userId?: string }>> = []
    let cursor: string | null = null
    do {
      const query: string = cursor === null ? `limit=${limit}` : `limit=${limit}&cursor=${cursor}`
      const page = ok(yield* req("GET", `${path}?${query}`, { token }))
      expect(page).toHaveProperty("nextCursor")
      pages.push(page[key] as ReadonlyArray<{ readonly id?: string }>)
      cursor = page.nextCursor as string | null
    } while (cursor !== null && pages.length < 20)
    return pages
  })

layer(server.layer, { timeout: 120_000 })("tenancy lists and conventions", (it) => {
  it.effect("the session cookie is Secure by default", () =>
    Effect.gen(function* () {
      const u = yield* user("cookie")
      const flags = u.cookie.split(";").map((s) => s.trim().toLowerCase())
      expect(flags).toContain("secure")
      expect(flags).toContain("httponly")
      expect(flags).toContain("samesite=strict")
    })
  )

  it.effect("an organization created with only a name gets a slug from it, unique on a clash", () =>
    Effect.gen(function* () {
      const u = yield* user("slugless")
      const name = `Acme Corp ${unique()}`
      const first = ok(yield* req("POST", "/api/v1/orgs", { token: u.token, body: { name } }), 201)
      expect(first.slug).toBe(name.toLowerCase().replace(/ /g, "-"))
      const second = ok(yield* req("POST", "/api/v1/orgs", { token: u.token, body: { name } }), 201)
      expect(second.slug).toMatch(/^[a-z0-9-]{2,48}$/)
      expect(second.slug).not.toBe(first.slug)
      const odd = ok(yield* req("POST", "/api/v1/orgs", { token: u.token, body: { name: "Ü" } }), 201)
      expect(odd.slug).toMatch(/^[a-z0-9-]{2,48}$/)
      // a slug given explicitly that is taken stays a 409
      const dup = yield* req("POST", "/api/v1/orgs", { token: u.token, body: { name: "x", slug: first.slug } })
      expect(dup.status).toBe(409)
    })
  )

  it.effect("organizations, members, projects and API keys page with cursor and nextCursor", () =>
    Effect.gen(function* () {
      const owner = yield* user("pager")
      const orgIds: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const org = yield* req("POST", "/api/v1/orgs", {
          token: owner.token,
          body: { name: `Pager ${i}`, slug: `pager-${i}-${unique()}` }
        })
        orgIds.push(ok(org, 201).id as string)
      }
      const orgPages = yield* allPages("/api/v1/orgs", "organizations", owner.token, 2)
      expect(orgPages.map((p) => p.length)).toEqual([2, 1])
      expect(orgPages.flat().map((o) => o.id)).toEqual(orgIds)

      const org = `/api/v1/orgs/${orgIds[0]!}`
      const projectIds: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const p = yield* req("POST", `${org}/projects`, { token: owner.token, body: { name: `p${i}` } })
        projectIds.push(ok(p, 201).id as string)
      }
      const projectPages = yield* allPages(`${org}/projects`, "projects", owner.token, 2)
      expect(projectPages.map((p) => p.length)).toEqual([2, 2, 1])
      expect(projectPages.flat().map((p) => p.id)).toEqual(projectIds)
      // without `limit` the whole (small) list is one page
      expect(ok(yield* req("GET", `${org}/projects`, { token: owner.token }))).toMatchObject({ nextCursor: null })

      const others = [yield* user("m1"), yield* user("m2")]
      for (const o of others) {
        const inv = ok(
          yield* req("POST", `${org}/invitations`, { token: owner.token, body: { email: o.email, role: "member" } }),
          201
        )
        ok(yield* req("POST", "/api/v1/invitations/accept", { token: o.token, body: { token: inv.token } }))
      }
      // pending invitations page the same way
      const pending: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const inv = yield* req("POST", `${org}/invitations`, {
          token: owner.token,
          body: { email: `p${i}@example.com`, role: "member" }
        })
        pending.push(ok(inv, 201).id as string)
      }
      const invitationPages = yield* allPages(`${org}/invitations`, "invitations", owner.token, 2)
      expect(invitationPages.map((p) => p.length)).toEqual([2, 1])
      expect(invitationPages.flat().map((p) => p.id)).toEqual(pending)
      const memberPages = yield* allPages(`${org}/members`, "members", owner.token, 1)
      expect(memberPages.map((p) => p.length)).toEqual([1, 1, 1])
      expect(new Set(memberPages.flat().map((m) => m.userId)).size).toBe(3)

      const keysPath = `${org}/projects/${projectIds[0]!}/api-keys`
      const keyIds: Array<string> = []
      for (const type of ["write", "full", "write"]) {
        const k = yield* req("POST", keysPath, { token: owner.token, body: { name: type, type } })
        keyIds.push(ok(k, 201).id as string)
      }
      const keyPages = yield* allPages(keysPath, "keys", owner.token, 2)
      expect(keyPages.flat().map((k) => k.id)).toEqual(keyIds)

      // a cursor the API did not return, and a limit out of range, are 400 with the error body
      for (const path of ["/api/v1/orgs", `${org}/members`, `${org}/invitations`, `${org}/projects`, keysPath]) {
        const bad = yield* req("GET", `${path}?cursor=not-a-cursor`, { token: owner.token })
        expect(bad.status).toBe(400)
        expect(bad.json).toMatchObject({ error: true, code: 400 })
        expect((yield* req("GET", `${path}?limit=0`, { token: owner.token })).status).toBe(400)
      }
    })
  )
})
