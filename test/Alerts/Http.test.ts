/**
 * The alert and audit-log routes over real HTTP: the application's Api (ApiLive, every group) served by the real
 * wiring on a random port, over a fresh migrated Postgres database, real Redis and the real tenancy services.
 * Events and deliveries are produced by the real repository's `trigger` (what the evaluator calls).
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { DeliveriesRepo } from "../../src/Alerts/DeliveriesRepo.js"
import { makeId, type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import { type Reply, send } from "../Http/support/TestServer.js"
import { appServer } from "../support/AppServer.js"

const serverLayer = appServer("alerts-http", { THREADLINE_ALLOW_PRIVATE_WEBHOOKS: "false" })

const req = send

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  expect(res.status).toBe(status)
  return res.json
}

const unique = () => randomBytes(4).toString("hex")

const user = (label: string) =>
  Effect.gen(function* () {
    const email = `${label}-${unique()}@example.com`
    const password = "correct horse battery"
    ok(yield* req("POST", "/api/v1/auth/register", { body: { email, password, name: label } }), 201)
    const login = ok(yield* req("POST", "/api/v1/auth/login", { body: { email, password } }))
    return { email, token: login.token as string }
  })

/** An owner with an organization, and a plain member of it. */
const setup = Effect.gen(function* () {
  const owner = yield* user("owner")
  const member = yield* user("member")
  const slug = `alerts-${unique()}`
  const org = ok(yield* req("POST", "/api/v1/orgs", { token: owner.token, body: { slug, name: "Alerts" } }), 201)
  const invitation = ok(
    yield* req("POST", `/api/v1/orgs/${slug}/invitations`, {
      token: owner.token,
      body: { email: member.email, role: "member" }
    }),
    201
  )
  ok(yield* req("POST", "/api/v1/invitations/accept", { token: member.token, body: { token: invitation.token } }))
  return { owner, member, slug, orgId: org.id as OrganizationId }
})

const PUBLIC_HOOK = "https://93.184.215.14/hooks/threadline"
const rule = (overrides: Record<string, unknown> = {}) => ({
  name: "errors burst",
  level: ["error"],
  threshold: 5,
  windowMinutes: 5,
  webhookUrl: PUBLIC_HOOK,
  ...overrides
})

/** Records an event and its pending delivery with the real repository, as the evaluator does. */
const trigger = (orgId: OrganizationId, ruleId: string, ruleName: string, deliveryId: string) => {
  const ctx = RequestContext.make({ origin: "job", actor: { _tag: "system", reason: "test" }, organizationId: orgId })
  const now = new Date()
  return Effect.flatMap(DeliveriesRepo, (repo) =>
    repo.trigger(
      {
        id: makeId("alev"),
        ruleId,
        ruleName,
        count: 7,
        threshold: 5,
        windowMinutes: 5,
        from: new Date(now.getTime() - 300_000),
        to: now
      },
      deliveryId,
      PUBLIC_HOOK,
      JSON.stringify({ type: "alert.triggered" })
    )
  ).pipe(RequestContext.withContext(ctx), Effect.provide(DeliveriesRepo.Default))
}

layer(serverLayer, { timeout: 120_000 })("alerts over HTTP", (it) => {
  it.effect("create returns the secret once; list/get never do; update and delete", () =>
    Effect.gen(function* () {
      const { owner, member, slug } = yield* setup
      const created = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token, body: rule() }),
        201
      )
      expect(created.webhookSecret).toMatch(/^whsec_/)
      expect(created.id).toMatch(/^alr_/)
      const chosen = "s".repeat(20)
      const second = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, {
          token: owner.token,
          body: rule({ name: "second", webhookSecret: chosen })
        }),
        201
      )
      expect(second.webhookSecret).toBe(chosen)

      const list = yield* req("GET", `/api/v1/orgs/${slug}/alert-rules`, { token: member.token })
      const rules = ok(list).rules as Array<Record<string, unknown>>
      expect(rules.map((r) => r.name).sort()).toEqual(["errors burst", "second"])
      expect(list.text).not.toContain(created.webhookSecret as string)
      expect(list.text).not.toContain(chosen)
      for (const r of rules) expect(r).not.toHaveProperty("webhookSecret")
      expect(ok(list).nextCursor).toBeNull()
      // the list pages like every list (API.md conventions): oldest first, opaque cursor, nextCursor
      const rulesPath = `/api/v1/orgs/${slug}/alert-rules`
      const [older, newer] = [created, second]
        .map((r) => r as { id: string; createdAt: string })
        .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1))
      const page1 = ok(yield* req("GET", `${rulesPath}?limit=1`, { token: member.token }))
      expect(page1.rules).toMatchObject([{ id: older!.id }])
      expect(page1.nextCursor).toEqual(expect.any(String))
      const page2 = ok(
        yield* req("GET", `${rulesPath}?limit=1&cursor=${page1.nextCursor as string}`, { token: member.token })
      )
      expect(page2).toMatchObject({ rules: [{ id: newer!.id }], nextCursor: null })
      ok(yield* req("GET", `${rulesPath}?cursor=bogus`, { token: member.token }), 400)
      ok(yield* req("GET", `${rulesPath}?limit=0`, { token: member.token }), 400)

      const one = yield* req("GET", `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`, { token: member.token })
      expect(ok(one).threshold).toBe(5)
      expect(one.text).not.toContain(created.webhookSecret as string)

      const updated = ok(
        yield* req("PUT", `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`, {
          token: owner.token,
          body: rule({ threshold: 9 })
        })
      )
      expect(updated.threshold).toBe(9)
      expect(updated).not.toHaveProperty("webhookSecret")

      ok(yield* req("DELETE", `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`, { token: owner.token }), 204)
      ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`, { token: owner.token }), 404)
      ok(yield* req("DELETE", `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`, { token: owner.token }), 404)
      ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-rules/not-a-rule-id`, { token: owner.token }), 404)
    })
  )

  it.effect("private webhook URL is 400; invalid payload lists every failing field; roles and membership", () =>
    Effect.gen(function* () {
      const { owner, member, slug } = yield* setup
      const outsider = yield* user("outsider")
      const priv = yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, {
        token: owner.token,
        body: rule({ webhookUrl: "http://127.0.0.1:9/hook" })
      })
      ok(priv, 400)
      expect(priv.json.message).toMatch(/webhook URL refused/)

      const bad = yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, {
        token: owner.token,
        body: rule({ threshold: 0, windowMinutes: 0 })
      })
      ok(bad, 400)
      expect(JSON.stringify(bad.json)).toContain("threshold")
      expect(JSON.stringify(bad.json)).toContain("windowMinutes")

      ok(yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: member.token, body: rule() }), 403)
      ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-rules`, { token: outsider.token }), 404)
      ok(yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: outsider.token, body: rule() }), 404)
      ok(yield* req("GET", `/api/v1/orgs/${slug}/webhook-deliveries`, { token: member.token }), 403)
      ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log`, { token: member.token }), 403)
      ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log`, { token: outsider.token }), 404)
      // nothing was created by the refused calls
      const rules = ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token })).rules
      expect(rules).toEqual([])
    })
  )

  it.effect("a project or rule that is not the organization's is 404 on create, update, read, delete", () =>
    Effect.gen(function* () {
      const { owner, slug } = yield* setup
      const other = yield* setup
      const own = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/projects`, { token: owner.token, body: { name: "own" } }),
        201
      )
      const foreign = ok(
        yield* req("POST", `/api/v1/orgs/${other.slug}/projects`, {
          token: other.owner.token,
          body: { name: "theirs" }
        }),
        201
      )
      for (const projectId of ["prj_doesnotexist", foreign.id as string]) {
        const refused = yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, {
          token: owner.token,
          body: rule({ projectId })
        })
        ok(refused, 404)
        expect(refused.json).toMatchObject({ name: "NotFound", message: `project ${projectId} not found` })
      }
      const created = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, {
          token: owner.token,
          body: rule({ projectId: own.id })
        }),
        201
      )
      expect(created.projectId).toBe(own.id)
      const path = `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`
      ok(yield* req("PUT", path, { token: owner.token, body: rule({ projectId: foreign.id, threshold: 9 }) }), 404)
      expect(ok(yield* req("GET", path, { token: owner.token }))).toMatchObject({ projectId: own.id, threshold: 5 })
      // another organization's owner cannot reach the rule through their own organization's routes
      const theirs = `/api/v1/orgs/${other.slug}/alert-rules/${created.id as string}`
      ok(yield* req("GET", theirs, { token: other.owner.token }), 404)
      ok(yield* req("PUT", theirs, { token: other.owner.token, body: rule({ threshold: 2 }) }), 404)
      ok(yield* req("DELETE", theirs, { token: other.owner.token }), 404)
      expect(ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token })).rules).toHaveLength(1)
      // only the successful create was audited
      const audited = ok(
        yield* req("GET", `/api/v1/orgs/${slug}/audit-log?targetType=alert_rule`, { token: owner.token })
      )
      expect((audited.entries as Array<{ action: string }>).map((e) => e.action)).toEqual(["alert_rule.create"])
    })
  )

  it.effect("events and deliveries: empty, then after a trigger; cursor pages; replay 404 and 409", () =>
    Effect.gen(function* () {
      const { owner, member, slug, orgId } = yield* setup
      const empty = { items: [], nextCursor: null }
      expect(ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-events`, { token: member.token }))).toEqual(empty)
      expect(ok(yield* req("GET", `/api/v1/orgs/${slug}/webhook-deliveries`, { token: owner.token }))).toEqual(empty)

      const created = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token, body: rule() }),
        201
      )
      const deliveryId = makeId("whd")
      yield* trigger(orgId, created.id as string, "errors burst", deliveryId)

      const events = ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-events`, { token: member.token }))
      expect(events.nextCursor).toBeNull()
      expect(events.items).toMatchObject([{ ruleId: created.id, ruleName: "errors burst", count: 7, threshold: 5 }])
      const deliveries = ok(yield* req("GET", `/api/v1/orgs/${slug}/webhook-deliveries`, { token: owner.token }))
      expect(deliveries.items).toMatchObject([{ id: deliveryId, status: "pending", attempts: 0, url: PUBLIC_HOOK }])

      // a second rule's event: pages of one walk both, newest first, via the cursor
      const rule2 = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token, body: rule({ name: "two" }) }),
        201
      )
      yield* trigger(orgId, rule2.id as string, "two", makeId("whd"))
      const first = ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-events?limit=1`, { token: member.token }))
      expect(first.items).toMatchObject([{ ruleName: "two" }])
      expect(first.nextCursor).toEqual(expect.any(String))
      const rest = ok(
        yield* req("GET", `/api/v1/orgs/${slug}/alert-events?limit=1&cursor=${first.nextCursor as string}`, {
          token: member.token
        })
      )
      expect(rest).toMatchObject({ items: [{ ruleName: "errors burst" }], nextCursor: null })
      ok(yield* req("GET", `/api/v1/orgs/${slug}/alert-events?cursor=bogus`, { token: member.token }), 400)

      const pending = yield* req("POST", `/api/v1/orgs/${slug}/webhook-deliveries/${deliveryId}/replay`, {
        token: owner.token
      })
      ok(pending, 409)
      ok(yield* req("POST", `/api/v1/orgs/${slug}/webhook-deliveries/whd_unknown/replay`, { token: owner.token }), 404)
      ok(
        yield* req("POST", `/api/v1/orgs/${slug}/webhook-deliveries/${deliveryId}/replay`, { token: member.token }),
        403
      )

      // another organization sees none of it
      const other = yield* setup
      expect(ok(yield* req("GET", `/api/v1/orgs/${other.slug}/alert-events`, { token: other.owner.token }))).toEqual(
        empty
      )
      ok(
        yield* req("POST", `/api/v1/orgs/${other.slug}/webhook-deliveries/${deliveryId}/replay`, {
          token: other.owner.token
        }),
        404
      )
    })
  )

  it.effect("audit-log lists the rule creation with its request id; filters and cursor", () =>
    Effect.gen(function* () {
      const { owner, slug } = yield* setup
      const created = yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token, body: rule() })
      const ruleId = ok(created, 201).id as string
      const requestId = created.headers.get("x-request-id")
      expect(requestId).toBeTruthy()

      const log = ok(
        yield* req("GET", `/api/v1/orgs/${slug}/audit-log?action=alert_rule.create`, { token: owner.token })
      )
      expect(log.nextCursor).toBeNull()
      expect(log.entries).toMatchObject([
        { action: "alert_rule.create", actorType: "user", targetType: "alert_rule", targetId: ruleId, requestId }
      ])
      expect(JSON.stringify(log.entries)).not.toContain(created.json.webhookSecret as string)

      const byTarget = ok(
        yield* req("GET", `/api/v1/orgs/${slug}/audit-log?targetType=alert_rule`, { token: owner.token })
      )
      expect((byTarget.entries as Array<unknown>).length).toBe(1)
      const none = ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log?actorType=system`, { token: owner.token }))
      expect(none.entries).toEqual([])
      const future = new Date(Date.now() + 3_600_000).toISOString()
      const later = ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log?from=${future}`, { token: owner.token }))
      expect(later.entries).toEqual([])

      // org creation, member add and rule creation: three rows, walked one page at a time
      const all = ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log`, { token: owner.token }))
      const total = (all.entries as Array<unknown>).length
      expect(total).toBeGreaterThanOrEqual(2)
      const seen: Array<string> = []
      let cursor: string | null = null
      do {
        const q: string = cursor === null ? "?limit=1" : `?limit=1&cursor=${cursor}`
        const p = ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log${q}`, { token: owner.token }))
        for (const e of p.entries as Array<{ id: string }>) seen.push(e.id)
        cursor = p.nextCursor as string | null
      } while (cursor !== null)
      expect(seen).toEqual((all.entries as Array<{ id: string }>).map((e) => e.id))

      ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log?actorType=robot`, { token: owner.token }), 400)
      ok(yield* req("GET", `/api/v1/orgs/${slug}/audit-log?cursor=nope`, { token: owner.token }), 400)
    })
  )

  it.effect("concurrent partial PUTs of different fields both land", () =>
    Effect.gen(function* () {
      const { owner, slug } = yield* setup
      const created = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token, body: rule() }),
        201
      )
      const path = `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`
      // the rule is locked from read to write, so neither patch puts back the other's field
      for (let round = 0; round < 5; round++) {
        const [a, b] = yield* Effect.all(
          [
            req("PUT", path, { token: owner.token, body: { threshold: 10 + round } }),
            req("PUT", path, { token: owner.token, body: { enabled: round % 2 === 0 } })
          ],
          { concurrency: 2 }
        )
        ok(a)
        ok(b)
        expect(ok(yield* req("GET", path, { token: owner.token }))).toMatchObject({
          threshold: 10 + round,
          enabled: round % 2 === 0
        })
      }
    })
  )

  it.effect("PUT changes only the fields it carries; any non-empty webhook secret is accepted", () =>
    Effect.gen(function* () {
      const { owner, member, slug } = yield* setup
      const project = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/projects`, { token: owner.token, body: { name: "scoped" } }),
        201
      )
      // the receiver chooses its secret: API.md sets no minimum length
      const created = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/alert-rules`, {
          token: owner.token,
          body: rule({ projectId: project.id, service: "api", cooldownMinutes: 30, webhookSecret: "s3cret" })
        }),
        201
      )
      expect(created.webhookSecret).toBe("s3cret")
      const path = `/api/v1/orgs/${slug}/alert-rules/${created.id as string}`

      // a partial body: only `enabled` changes, the project scope and everything else stay
      const disabled = ok(yield* req("PUT", path, { token: owner.token, body: { enabled: false } }))
      expect(disabled).toMatchObject({
        enabled: false,
        projectId: project.id,
        service: "api",
        cooldownMinutes: 30,
        threshold: 5,
        name: "errors burst"
      })
      // the document read back, edited and sent whole, is a PUT as well
      const {
        id: _id,
        organizationId: _o,
        lastTriggeredAt: _l,
        createdAt: _c,
        updatedAt: _u,
        ...doc
      } = ok(yield* req("GET", path, { token: member.token }))
      const renamed = ok(yield* req("PUT", path, { token: owner.token, body: { ...doc, name: "renamed" } }))
      expect(renamed).toMatchObject({ name: "renamed", enabled: false, projectId: project.id })
      // null clears an optional field
      expect(ok(yield* req("PUT", path, { token: owner.token, body: { service: null } })).service).toBeNull()
      // fields still validated: 400 with the path; nothing changed
      const bad = yield* req("PUT", path, { token: owner.token, body: { threshold: 0 } })
      expect(bad.status).toBe(400)
      expect(JSON.stringify(bad.json.details)).toContain("threshold")
      expect(ok(yield* req("GET", path, { token: owner.token })).threshold).toBe(5)
      // a nullable field that fails is reported once, with its reason (not also "Expected null")
      const empty = yield* req("PUT", path, { token: owner.token, body: { service: "" } })
      expect(empty.status).toBe(400)
      const details = empty.json.details as ReadonlyArray<{ path: string; message: string }>
      expect(details.map((d) => d.path)).toEqual(["service"])
      expect(details[0]?.message).toContain("at least 1 character")
      // a member may not, an unknown rule is 404
      ok(yield* req("PUT", path, { token: member.token, body: { enabled: true } }), 403)
      ok(yield* req("PUT", `/api/v1/orgs/${slug}/alert-rules/alr_unknown`, { token: owner.token, body: {} }), 404)
      // the audit trail shows each change; its ids carry a type prefix like every id (API.md)
      const trail = ok(
        yield* req("GET", `/api/v1/orgs/${slug}/audit-log?action=alert_rule.update`, { token: owner.token })
      )
      const entries = trail.entries as ReadonlyArray<{ id: string; targetId: string }>
      expect(entries.filter((e) => e.targetId === created.id)).toHaveLength(3)
      expect(entries.every((e) => /^aud_[0-9]+$/.test(e.id))).toBe(true)
    })
  )
})
