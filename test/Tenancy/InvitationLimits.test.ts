/**
 * Invitations are bounded: pending ones per organization (THREADLINE_MAX_PENDING_INVITATIONS) and creations per
 * organization and hour (THREADLINE_INVITATIONS_PER_HOUR), both 429 with Retry-After; finished invitations (accepted,
 * revoked, expired) are purged after 30 days by `InvitationsRepo.purgeFinished`, through the audited bypass.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { RequestContext } from "../../src/RequestContext.js"
import { InvitationsRepo, PURGE_AFTER_DAYS } from "../../src/Sql/InvitationsRepo.js"
import { asOwner } from "../support/Database.js"
import { send as req } from "../Http/support/TestServer.js"
import { type Reply, tenancyServer } from "./Support.js"

const server = tenancyServer("invitation_limits", {
  THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000",
  THREADLINE_MAX_PENDING_INVITATIONS: "3",
  THREADLINE_INVITATIONS_PER_HOUR: "5"
})

const unique = () => randomBytes(4).toString("hex")
const PASSWORD = "correct horse battery"

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  return res.json
}

const ownerWithOrg = Effect.gen(function* () {
  const email = `owner-${unique()}@example.com`
  ok(yield* req("POST", "/api/v1/auth/register", { body: { email, password: PASSWORD, name: "o" } }), 201)
  const token = ok(yield* req("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } })).token as string
  const slug = `lim-${unique()}`
  const org = ok(yield* req("POST", "/api/v1/orgs", { token, body: { slug, name: "L" } }), 201)
  return { token, base: `/api/v1/orgs/${slug}`, orgId: org.id as string }
})

const invite = (base: string, token: string) =>
  req("POST", `${base}/invitations`, { token, body: { email: `x-${unique()}@example.com`, role: "member" } })

const expect429 = (res: Reply) => {
  expect(res.status).toBe(429)
  expect(res.json).toMatchObject({ error: true, code: 429, name: "TooManyRequests" })
  return Number(res.headers.get("retry-after"))
}

const pendingIds = (base: string, token: string) =>
  Effect.map(req("GET", `${base}/invitations`, { token }), (r) =>
    (ok(r).invitations as Array<{ id: string }>).map((i) => i.id).sort()
  )

layer(server.layer, { timeout: 120_000 })("invitation limits", (it) => {
  it.effect(
    "at most THREADLINE_MAX_PENDING_INVITATIONS pending: the next is 429 with Retry-After; revoking frees one",
    () =>
      Effect.gen(function* () {
        const o = yield* ownerWithOrg
        const made: Array<string> = []
        for (let i = 0; i < 3; i++) made.push(ok(yield* invite(o.base, o.token), 201).id as string)
        const wait = expect429(yield* invite(o.base, o.token))
        expect(wait).toBeGreaterThan(0)
        // nothing already accepted is lost: the three are still pending
        expect(yield* pendingIds(o.base, o.token)).toEqual([...made].sort())
        ok(yield* req("DELETE", `${o.base}/invitations/${made[0]}`, { token: o.token }), 204)
        ok(yield* invite(o.base, o.token), 201)
      })
  )

  it.effect(
    "at most THREADLINE_INVITATIONS_PER_HOUR created an hour, revoked ones included: 429 until one ages out",
    () =>
      Effect.gen(function* () {
        const o = yield* ownerWithOrg
        for (let i = 0; i < 5; i++) {
          const id = ok(yield* invite(o.base, o.token), 201).id as string
          ok(yield* req("DELETE", `${o.base}/invitations/${id}`, { token: o.token }), 204)
        }
        const wait = expect429(yield* invite(o.base, o.token))
        expect(wait).toBeGreaterThan(3000)
        expect(wait).toBeLessThanOrEqual(3600)
        // another organization is not affected
        const other = yield* ownerWithOrg
        ok(yield* invite(other.base, other.token), 201)
        // an hour later (the rows aged), the organization may invite again
        yield* asOwner((c) =>
          c.query(
            `UPDATE organization_invitations SET created_at = created_at - interval '61 minutes'
           WHERE organization_id = $1`,
            [o.orgId]
          )
        )
        ok(yield* invite(o.base, o.token), 201)
      })
  )

  it.effect("finished invitations older than 30 days are purged; pending and recent ones stay", () =>
    Effect.gen(function* () {
      const o = yield* ownerWithOrg
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) ids.push(ok(yield* invite(o.base, o.token), 201).id as string)
      const [oldRevoked, recentRevoked, pending] = ids as [string, string, string]
      const old = `now() - interval '${PURGE_AFTER_DAYS + 1} days'`
      yield* asOwner(async (c) => {
        await c.query(
          `UPDATE organization_invitations SET created_at = ${old} - interval '1 day', revoked_at = ${old}
           WHERE id = $1`,
          [oldRevoked]
        )
        await c.query(`UPDATE organization_invitations SET revoked_at = now() - interval '10 days' WHERE id = $1`, [
          recentRevoked
        ])
        // long expired, never accepted: purged as well
        await c.query(
          `INSERT INTO organization_invitations (id, organization_id, email, role, token_hash, created_at, expires_at)
           VALUES ($1, $2, 'gone@example.com', 'member', $3, ${old} - interval '7 days', ${old})`,
          [`inv_expired${unique()}`, o.orgId, `hash-${unique()}`]
        )
      })
      const purged = yield* (yield* InvitationsRepo)
        .purgeFinished(PURGE_AFTER_DAYS)
        .pipe(RequestContext.withContext(RequestContext.system("invitations.purge")))
      expect(purged).toBeGreaterThanOrEqual(2)
      const left = yield* asOwner((c) =>
        c.query<{ id: string }>(`SELECT id FROM organization_invitations WHERE organization_id = $1 ORDER BY id`, [
          o.orgId
        ])
      )
      expect(left.rows.map((r) => r.id)).toEqual([recentRevoked, pending].sort())
      const audited = yield* asOwner((c) =>
        c.query(`SELECT 1 FROM audit_log WHERE action = 'tenant.bypass' AND actor_reason = 'invitations.purge'`)
      )
      expect(audited.rowCount).toBeGreaterThan(0)
    })
  )
})
