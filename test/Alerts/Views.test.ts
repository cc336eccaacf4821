/**
 * What a tenant reads of webhooks over HTTP (the application's Api on the real wiring, real Postgres and Redis):
 * members see a rule's webhook URL as `scheme://host[:port]/` only, owners and admins whole; a delivery to a
 * destination the guard refuses is stored, for admins, with one generic reason and never a resolved address.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { DeliveriesRepo } from "../../src/Alerts/DeliveriesRepo.js"
import { Deliveries } from "../../src/Alerts/Deliver.js"
import { AlertsLive } from "../../src/Alerts/AlertsLive.js"
import { makeId, type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import { Producer } from "../../src/Queue/Producer.js"
import { send } from "../Http/support/TestServer.js"
import { appServer } from "../support/AppServer.js"
import { asOwner } from "../support/Database.js"
import { ok, orgWithMember } from "../support/Tenants.js"

const HOOK = "https://user:pass@93.184.215.14:8443/services/T0/B0/s3cr3tT0ken?token=abc#frag"
const rule = { name: "errors burst", level: ["error"], threshold: 5, windowMinutes: 5, webhookUrl: HOOK }

const systemFor = (organizationId: OrganizationId) =>
  RequestContext.make({ origin: "job", actor: { _tag: "system", reason: "test" }, organizationId })

/** An event and its pending delivery to `url`, recorded as the evaluator does. */
const trigger = (organizationId: OrganizationId, ruleId: string, url: string) => {
  const deliveryId = makeId("whd")
  const now = new Date()
  const payload = {
    id: makeId("evt"),
    type: "alert.triggered",
    version: 1,
    occurredAt: now.toISOString(),
    organizationId,
    projectId: null,
    data: { ruleId, ruleName: "errors burst", count: 7, threshold: 5, windowMinutes: 5, from: now, to: now }
  }
  return Effect.flatMap(DeliveriesRepo, (repo) =>
    repo.trigger(
      {
        id: makeId("alev"),
        ruleId,
        ruleName: "errors burst",
        count: 7,
        threshold: 5,
        windowMinutes: 5,
        from: now,
        to: now
      },
      deliveryId,
      url,
      JSON.stringify(payload)
    )
  ).pipe(
    Effect.as(deliveryId),
    RequestContext.withContext(systemFor(organizationId)),
    Effect.provide(DeliveriesRepo.Default)
  )
}

/** One attempt of the delivery job, as the worker runs it. */
const deliverOnce = (organizationId: OrganizationId, deliveryId: string) =>
  Effect.flatMap(Deliveries, (d) => d.deliver(deliveryId)).pipe(
    RequestContext.withContext(systemFor(organizationId)),
    Effect.provide(AlertsLive.pipe(Layer.provide(Producer.Default)))
  )

layer(appServer("alerts_views", { THREADLINE_ALLOW_PRIVATE_WEBHOOKS: "false" }), { timeout: 120_000 })(
  "webhook views",
  (it) => {
    it.effect("members see scheme://host[:port]/ of a webhook URL; owners and admins see it whole", () =>
      Effect.gen(function* () {
        const { owner, member, slug, orgId } = yield* orgWithMember("views")
        const created = ok(
          yield* send("POST", `/api/v1/orgs/${slug}/alert-rules`, { token: owner.token, body: rule }),
          201
        )
        expect(created.webhookUrl).toBe(HOOK)
        const ruleId = created.id as string
        const base = `/api/v1/orgs/${slug}/alert-rules`

        const asMember = ok(yield* send("GET", `${base}/${ruleId}`, { token: member.token }))
        expect(asMember.webhookUrl).toBe("https://93.184.215.14:8443/")
        const listed = ok(yield* send("GET", base, { token: member.token }))
        expect((listed.rules as ReadonlyArray<{ webhookUrl: string }>).map((r) => r.webhookUrl)).toEqual([
          "https://93.184.215.14:8443/"
        ])
        const memberText = JSON.stringify(asMember) + JSON.stringify(listed)
        for (const secret of ["s3cr3tT0ken", "token=abc", "user:pass", "frag", "/services"]) {
          expect(memberText).not.toContain(secret)
        }

        expect(ok(yield* send("GET", `${base}/${ruleId}`, { token: owner.token })).webhookUrl).toBe(HOOK)
        expect(
          (ok(yield* send("GET", base, { token: owner.token })).rules as Array<{ webhookUrl: string }>)[0]?.webhookUrl
        ).toBe(HOOK)
        // promoted to admin: the whole URL again
        yield* asOwner((c) =>
          c.query("UPDATE organization_members SET role = 'admin' WHERE organization_id = $1 AND user_id = $2", [
            orgId,
            member.id
          ])
        )
        expect(ok(yield* send("GET", `${base}/${ruleId}`, { token: member.token })).webhookUrl).toBe(HOOK)
      })
    )

    it.effect("a delivery to a name resolving to 127.0.0.1 is stored with one generic reason, no address", () =>
      Effect.gen(function* () {
        const { owner, slug, orgId } = yield* orgWithMember("refused")
        const created = ok(
          yield* send("POST", `/api/v1/orgs/${slug}/alert-rules`, {
            token: owner.token,
            body: { ...rule, webhookUrl: "https://93.184.215.14/hook" }
          }),
          201
        )
        // the name resolves to loopback at delivery time (a rebinding name, or a rule changed since it was checked)
        const deliveryId = yield* trigger(orgId as OrganizationId, created.id as string, "http://localhost:9/hook")
        yield* deliverOnce(orgId as OrganizationId, deliveryId)
        const res = yield* send("GET", `/api/v1/orgs/${slug}/webhook-deliveries`, { token: owner.token })
        const items = ok(res).items as ReadonlyArray<{ id: string; status: string; lastError: string | null }>
        expect(items.find((d) => d.id === deliveryId)).toMatchObject({
          status: "failed",
          lastError: "destination refused"
        })
        expect(res.text).not.toMatch(/127\.0\.0\.1|::1|loopback/)
      })
    )
  }
)
