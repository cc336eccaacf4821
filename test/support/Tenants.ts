/**
 * Users and organizations made the way a user makes them, over the HTTP API of a test server (appServer), plus a
 * plain member added by SQL as the database owner (the fixture does not depend on a members route).
 */
import { randomBytes } from "node:crypto"
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { type Reply, send } from "../Http/support/TestServer.js"
import { asOwner } from "./Database.js"

export const unique = () => randomBytes(4).toString("hex")

/** The reply's JSON when its status is `status`; otherwise the test fails showing the body. */
export const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect({ status: res.status, body: res.json }).toEqual({ status })
  return res.json
}

export const user = (label: string) =>
  Effect.gen(function* () {
    const email = `${label}-${unique()}@example.com`
    const password = "correct horse battery"
    const reg = ok(yield* send("POST", "/api/v1/auth/register", { body: { email, password, name: label } }), 201)
    const login = ok(yield* send("POST", "/api/v1/auth/login", { body: { email, password } }))
    return { id: reg.id as string, email, token: login.token as string }
  })

/** An owner with a new organization, and a user who is a plain `member` of it. */
export const orgWithMember = (label: string) =>
  Effect.gen(function* () {
    const owner = yield* user(`${label}-owner`)
    const member = yield* user(`${label}-member`)
    const slug = `${label}-${unique()}`
    const org = ok(yield* send("POST", "/api/v1/orgs", { token: owner.token, body: { slug, name: label } }), 201)
    const orgId = org.id as string
    yield* asOwner((c) =>
      c.query("INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'member')", [
        orgId,
        member.id
      ])
    )
    return { owner, member, slug, orgId }
  })
