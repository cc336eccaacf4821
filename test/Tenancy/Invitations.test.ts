/**
 * Joining an organization through invitations, over real HTTP, Postgres, Redis and a real SMTP server (smtp-server
 * on 127.0.0.1): whoever holds the one-time token joins, never the account that registered the invited email;
 * single use under concurrency, expiry, revocation, roles, audit rows, the token stored only as SHA-256, the mail.
 */
import { createHash, randomBytes } from "node:crypto"
import { afterAll, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { simpleParser } from "mailparser"
import { SMTPServer } from "smtp-server"
import { asOwner } from "../support/Database.js"
import { type Reply, tenancyServer } from "./Support.js"
import { send } from "../Http/support/TestServer.js"

interface Received {
  readonly to: string
  readonly text: string
}
const inbox: Array<Received> = []
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ["AUTH", "STARTTLS"],
  logger: false,
  onData(stream, session, callback) {
    simpleParser(stream)
      .then((mail) => {
        inbox.push({ to: session.envelope.rcptTo.map((r) => r.address).join(","), text: mail.text ?? "" })
        callback()
      })
      .catch(callback)
  }
})
const smtpPort = await new Promise<number>((resolve) => {
  smtp.listen(0, "127.0.0.1", () => {
    const address = smtp.server.address()
    resolve(typeof address === "object" && address !== null ? address.port : 0)
  })
})

afterAll(() => new Promise<void>((resolve) => smtp.close(() => resolve())))

const PUBLIC_URL = "https://console.threadline.example"
const TTL_SECONDS = 3 * 86_400

const server = tenancyServer("invitations", {
  THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000",
  THREADLINE_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
  THREADLINE_SMTP_FROM: "Threadline Test <noreply@threadline.example>",
  THREADLINE_PUBLIC_URL: `${PUBLIC_URL}/`,
  THREADLINE_INVITATION_TTL_SECONDS: String(TTL_SECONDS)
})

const req = send
const unique = () => randomBytes(4).toString("hex")
const PASSWORD = "correct horse battery"

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  expect(res.status).toBe(status)
  return res.json
}

const user = (label: string, email = `${label}-${unique()}@example.com`) =>
  Effect.gen(function* () {
    ok(yield* req("POST", "/api/v1/auth/register", { body: { email, password: PASSWORD, name: label } }), 201)
    const login = ok(yield* req("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } }))
    return { email, id: (login.user as { id: string }).id, token: login.token as string }
  })

const orgOf = (owner: { token: string }) =>
  Effect.gen(function* () {
    const slug = `inv-${unique()}`
    const org = ok(yield* req("POST", "/api/v1/orgs", { token: owner.token, body: { slug, name: "Invite Co" } }), 201)
    return { slug, id: org.id as string, base: `/api/v1/orgs/${slug}` }
  })

const invite = (base: string, token: string, email: string, role = "member") =>
  req("POST", `${base}/invitations`, { token, body: { email, role } })

const accept = (token: string, invitationToken: string) =>
  req("POST", "/api/v1/invitations/accept", { token, body: { token: invitationToken } })

const memberIds = (base: string, token: string) =>
  Effect.map(req("GET", `${base}/members`, { token }), (r) =>
    (ok(r).members as Array<{ userId: string; role: string }>).map((m) => `${m.userId}:${m.role}`).sort()
  )

layer(server.layer, { timeout: 120_000 })("invitations", (it) => {
  it.effect("an account registered first under the invited email is not added; the token holder joins", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      const newhire = `newhire-${unique()}@victim.example`
      // the attacker registers the new hire's address before the invitation is sent
      const attacker = yield* user("attacker", newhire)
      const created = ok(yield* invite(org.base, owner.token, newhire), 201)
      expect((yield* req("GET", org.base, { token: attacker.token })).status).toBe(404)
      expect(yield* memberIds(org.base, owner.token)).toEqual([`${owner.id}:owner`])

      // the real new hire, whose mailbox got the link, signs up under another address and accepts
      const real = yield* user("realhire")
      const joined = ok(yield* accept(real.token, created.token as string))
      expect(joined).toEqual({ id: org.id, slug: org.slug, name: "Invite Co", role: "member" })
      expect(yield* memberIds(org.base, owner.token)).toEqual([`${owner.id}:owner`, `${real.id}:member`].sort())
      expect((yield* req("GET", org.base, { token: attacker.token })).status).toBe(404)
    })
  )

  it.effect("the reply shows the token and accept link once; only the SHA-256 is stored; the TTL is applied", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      // an email with an account and one without get the same kind of answer (no account is looked up)
      const existing = yield* user("existing")
      const a = ok(yield* invite(org.base, owner.token, existing.email), 201)
      const b = ok(yield* invite(org.base, owner.token, `Nobody-${unique()}@Example.com`, "admin"), 201)
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort())
      expect(Object.keys(a).sort()).toEqual(["acceptUrl", "createdAt", "email", "expiresAt", "id", "role", "token"])
      expect(b.email).toBe((b.email as string).toLowerCase())
      const token = a.token as string
      expect(a.id).toMatch(/^inv_[0-9a-f]{24}$/)
      expect(token).toMatch(/^tli_[A-Za-z0-9_-]{43}$/)
      // a fragment: the token never leaves the browser (no proxy or server log sees it); the console reads it
      expect(a.acceptUrl).toBe(`${PUBLIC_URL}/invitations/accept#token=${token}`)
      const ttl = (Date.parse(a.expiresAt as string) - Date.parse(a.createdAt as string)) / 1000
      expect(Math.abs(ttl - TTL_SECONDS)).toBeLessThan(5)

      const listed = ok(yield* req("GET", `${org.base}/invitations`, { token: owner.token }))
      expect((listed.invitations as Array<{ id: string }>).map((i) => i.id)).toEqual([a.id, b.id])
      expect(JSON.stringify(listed)).not.toContain(token)
      expect(listed.invitations).toContainEqual({
        id: a.id,
        email: existing.email,
        role: "member",
        createdAt: a.createdAt,
        expiresAt: a.expiresAt
      })

      const rows = yield* asOwner((c) =>
        c.query<Record<string, unknown>>(`SELECT * FROM organization_invitations WHERE id = $1`, [a.id])
      )
      expect(rows.rows[0]?.token_hash).toBe(createHash("sha256").update(token).digest("hex"))
      expect(JSON.stringify(rows.rows)).not.toContain(token.slice(4))
      const audit = yield* asOwner((c) =>
        c.query<{ text: string }>(`SELECT row_to_json(a)::text AS text FROM audit_log a WHERE organization_id = $1`, [
          org.id
        ])
      )
      expect(audit.rows.map((r) => r.text).join()).not.toContain(token.slice(4))
    })
  )

  it.effect("a token works once: a second accept and a concurrent one are 409, one membership results", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      const [u1, u2, u3] = [yield* user("one"), yield* user("two"), yield* user("three")]
      const first = ok(yield* invite(org.base, owner.token, "whoever@example.com"), 201)
      ok(yield* accept(u1.token, first.token as string))
      const again = yield* accept(u2.token, first.token as string)
      expect(again.status).toBe(409)
      expect(again.json).toMatchObject({ error: true, code: 409, name: "Conflict" })
      expect(again.json.message).toContain("already been used")

      // the same token presented by two users at once: exactly one joins
      const second = ok(yield* invite(org.base, owner.token, "race@example.com", "admin"), 201)
      const results = yield* Effect.all(
        [accept(u2.token, second.token as string), accept(u3.token, second.token as string)],
        { concurrency: "unbounded" }
      )
      expect(results.map((r) => r.status).sort()).toEqual([200, 409])
      const members = yield* memberIds(org.base, owner.token)
      expect(members).toHaveLength(3)
      expect(members.filter((m) => m.endsWith(":admin"))).toHaveLength(1)
      // accepted invitations leave the pending list
      const listed = ok(yield* req("GET", `${org.base}/invitations`, { token: owner.token }))
      expect(listed.invitations).toEqual([])
    })
  )

  it.effect("expired, revoked, unknown and malformed tokens fail with clear 4xx; nothing is added", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      const joiner = yield* user("joiner")

      const expired = ok(yield* invite(org.base, owner.token, "late@example.com"), 201)
      yield* asOwner((c) =>
        c.query(`UPDATE organization_invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, [
          expired.id
        ])
      )
      const late = yield* accept(joiner.token, expired.token as string)
      expect(late.status).toBe(409)
      expect(late.json.message).toContain("expired")
      // an expired invitation is no longer listed as pending
      expect(ok(yield* req("GET", `${org.base}/invitations`, { token: owner.token })).invitations).toEqual([])

      const revoked = ok(yield* invite(org.base, owner.token, "gone@example.com"), 201)
      ok(yield* req("DELETE", `${org.base}/invitations/${revoked.id as string}`, { token: owner.token }), 204)
      expect(
        (yield* req("DELETE", `${org.base}/invitations/${revoked.id as string}`, { token: owner.token })).status
      ).toBe(404)
      expect((yield* req("DELETE", `${org.base}/invitations/not-an-id`, { token: owner.token })).status).toBe(404)
      const refused = yield* accept(joiner.token, revoked.token as string)
      expect(refused.status).toBe(409)
      expect(refused.json.message).toContain("revoked")

      const unknown = yield* accept(joiner.token, `tli_${randomBytes(32).toString("base64url")}`)
      expect(unknown.status).toBe(404)
      expect(unknown.json).toMatchObject({ error: true, code: 404, name: "NotFound" })
      expect((yield* accept(joiner.token, "not a token")).status).toBe(404)
      // over the token's length but within the 16 KiB body limit: 400; past the body limit: 413 before parsing
      const long = yield* accept(joiner.token, "x".repeat(10_000))
      expect(long.status).toBe(400)
      const huge = yield* accept(joiner.token, "x".repeat(100_000))
      expect(huge.status).toBe(413)
      // without a session
      const anonymous = yield* req("POST", "/api/v1/invitations/accept", { body: { token: expired.token } })
      expect(anonymous.status).toBe(401)

      expect(yield* memberIds(org.base, owner.token)).toEqual([`${owner.id}:owner`])
    })
  )

  it.effect(
    "roles: an admin cannot invite an owner, an owner can; a member already in is 409 and the token stays",
    () =>
      Effect.gen(function* () {
        const owner = yield* user("owner")
        const org = yield* orgOf(owner)
        const admin = yield* user("admin")
        ok(
          yield* accept(
            admin.token,
            ok(yield* invite(org.base, owner.token, admin.email, "admin"), 201).token as string
          )
        )
        const denied = yield* invite(org.base, admin.token, "boss@example.com", "owner")
        expect(denied.status).toBe(403)
        expect(denied.json).toMatchObject({ error: true, code: 403, name: "Forbidden" })
        ok(yield* invite(org.base, admin.token, "helper@example.com", "member"), 201)

        const coOwner = yield* user("coowner")
        const ownerInvite = ok(yield* invite(org.base, owner.token, coOwner.email, "owner"), 201)
        expect(ok(yield* accept(coOwner.token, ownerInvite.token as string)).role).toBe("owner")

        const spare = ok(yield* invite(org.base, owner.token, "spare@example.com"), 201)
        const already = yield* accept(admin.token, spare.token as string)
        expect(already.status).toBe(409)
        expect(already.json.message).toContain("already a member")
        // the invitation was not used up
        const stranger = yield* user("stranger")
        expect(ok(yield* accept(stranger.token, spare.token as string)).role).toBe("member")
      })
  )

  it.effect("a removed admin's pending invitations are revoked (audited) with the removal: she cannot rejoin", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      const mallory = yield* user("mallory")
      ok(
        yield* accept(
          mallory.token,
          ok(yield* invite(org.base, owner.token, mallory.email, "admin"), 201).token as string
        )
      )
      const backdoor = ok(yield* invite(org.base, mallory.token, `m2-${unique()}@example.com`, "admin"), 201)
      const other = ok(yield* invite(org.base, mallory.token, `m3-${unique()}@example.com`), 201)
      const ownersOwn = ok(yield* invite(org.base, owner.token, `o-${unique()}@example.com`), 201)
      ok(yield* req("DELETE", `${org.base}/members/${mallory.id}`, { token: owner.token }), 204)

      const again = yield* accept(mallory.token, backdoor.token as string)
      expect(again.status).toBe(409)
      expect(again.json).toMatchObject({
        error: true,
        code: 409,
        name: "Conflict",
        message: "this invitation was revoked"
      })
      expect(yield* memberIds(org.base, owner.token)).toEqual([`${owner.id}:owner`])
      // listed no more; the owner's own invitation is untouched and still works
      const pending = ok(yield* req("GET", `${org.base}/invitations`, { token: owner.token })).invitations as Array<{
        id: string
      }>
      expect(pending.map((i) => i.id)).toEqual([ownersOwn.id])
      const rows = yield* asOwner((c) =>
        c.query<{ target_id: string; actor_id: string; changes: { reason?: string } }>(
          `SELECT target_id, actor_id, changes FROM audit_log
           WHERE organization_id = $1 AND action = 'invitation.revoke' ORDER BY target_id`,
          [org.id]
        )
      )
      expect(rows.rows.map((r) => r.target_id)).toEqual([backdoor.id as string, other.id as string].sort())
      for (const r of rows.rows) {
        expect(r.actor_id).toBe(owner.id)
        expect(r.changes.reason).toBe("creator removed")
      }
      const stranger = yield* user("stranger")
      expect(ok(yield* accept(stranger.token, ownersOwn.token as string)).role).toBe("member")
    })
  )

  it.effect("accept checks the creator: gone, or no longer allowed to invite that role → 409, nothing added", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      const admin = yield* user("admin")
      ok(
        yield* accept(admin.token, ok(yield* invite(org.base, owner.token, admin.email, "admin"), 201).token as string)
      )
      const asAdmin = ok(yield* invite(org.base, admin.token, `a-${unique()}@example.com`, "admin"), 201)
      const asMember = ok(yield* invite(org.base, admin.token, `b-${unique()}@example.com`, "member"), 201)
      // demoted behind the API's back (no route changes a role today): an admin no more, her invitations lapse
      yield* asOwner((c) =>
        c.query(`UPDATE organization_members SET role = 'member' WHERE organization_id = $1 AND user_id = $2`, [
          org.id,
          admin.id
        ])
      )
      const joiner = yield* user("joiner")
      for (const inv of [asAdmin, asMember]) {
        const res = yield* accept(joiner.token, inv.token as string)
        expect(res.status).toBe(409)
        expect(res.json).toMatchObject({
          error: true,
          code: 409,
          name: "Conflict",
          message: "this invitation is no longer valid"
        })
      }
      // removed, with an invitation that escaped the removal's revocation: still refused at accept
      yield* asOwner((c) =>
        c.query(`UPDATE organization_members SET role = 'admin' WHERE organization_id = $1 AND user_id = $2`, [
          org.id,
          admin.id
        ])
      )
      ok(yield* req("DELETE", `${org.base}/members/${admin.id}`, { token: owner.token }), 204)
      yield* asOwner((c) =>
        c.query(`UPDATE organization_invitations SET revoked_at = NULL WHERE id = $1`, [asAdmin.id])
      )
      const res = yield* accept(admin.token, asAdmin.token as string)
      expect(res.status).toBe(409)
      expect(res.json.message).toBe("this invitation is no longer valid")
      expect(yield* memberIds(org.base, owner.token)).toEqual([`${owner.id}:owner`])
    })
  )

  it.effect("every step is audited under the organization: created, revoked, accepted (with the member added)", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      const joiner = yield* user("joiner")
      const kept = ok(yield* invite(org.base, owner.token, "kept@example.com", "admin"), 201)
      const dropped = ok(yield* invite(org.base, owner.token, "dropped@example.com"), 201)
      ok(yield* req("DELETE", `${org.base}/invitations/${dropped.id as string}`, { token: owner.token }), 204)
      const requestId = `accept-${unique()}`
      ok(
        yield* req("POST", "/api/v1/invitations/accept", {
          token: joiner.token,
          body: { token: kept.token },
          headers: { "x-request-id": requestId }
        })
      )
      const rows = yield* asOwner((c) =>
        c.query<Record<string, unknown>>(
          `SELECT action, actor_type, actor_id, target_type, target_id, changes, request_id FROM audit_log
           WHERE organization_id = $1 AND action <> 'organization.create' ORDER BY id`,
          [org.id]
        )
      )
      expect(rows.rows).toMatchObject([
        {
          action: "invitation.create",
          actor_id: owner.id,
          target_id: kept.id,
          changes: { email: "kept@example.com", role: "admin" }
        },
        { action: "invitation.create", actor_id: owner.id, target_id: dropped.id },
        { action: "invitation.revoke", actor_id: owner.id, target_type: "invitation", target_id: dropped.id },
        {
          action: "member.add",
          actor_id: joiner.id,
          target_type: "user",
          target_id: joiner.id,
          request_id: requestId,
          changes: { role: "admin", invitationId: kept.id }
        },
        {
          action: "invitation.accept",
          actor_type: "user",
          actor_id: joiner.id,
          target_id: kept.id,
          request_id: requestId,
          changes: { userId: joiner.id, role: "admin" }
        }
      ])
    })
  )

  it.effect("with THREADLINE_SMTP_URL the accept link is mailed to the invited address", () =>
    Effect.gen(function* () {
      const owner = yield* user("owner")
      const org = yield* orgOf(owner)
      const to = `mailme-${unique()}@example.com`
      const created = ok(yield* invite(org.base, owner.token, to), 201)
      // polled in real time (it.effect runs on the test clock; the mail goes out on the real one)
      const mail = yield* Effect.promise(async () => {
        for (let i = 0; i < 100; i++) {
          const found = inbox.find((m) => m.to === to)
          if (found !== undefined) return found
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        return { to: "", text: "no mail within 10 s" }
      })
      expect(mail.text).toContain(created.acceptUrl as string)
      expect(mail.text).toContain("Invite Co")
    })
  )
})
