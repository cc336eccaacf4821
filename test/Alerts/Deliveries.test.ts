import { SqlClient } from "@effect/sql"
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Redacted } from "effect"
import type { RuleInput } from "../../src/Alerts/AlertRule.js"
import { DeliverWebhook } from "../../src/Alerts/AlertJobs.js"
import { handlers } from "../../src/Alerts/AlertsLive.js"
import { Deliveries, DeliveryBackoff } from "../../src/Alerts/Deliver.js"
import { DeliveriesRepo } from "../../src/Alerts/DeliveriesRepo.js"
import { RulesRepo } from "../../src/Alerts/RulesRepo.js"
import { SecretBox } from "../../src/Alerts/SecretBox.js"
import { WebhookSender } from "../../src/Alerts/WebhookSender.js"
import { AuditLog } from "../../src/Audit/AuditLog.js"
import * as Consumer from "../../src/Queue/Consumer.js"
import { AlertEvaluator } from "../../src/Alerts/Evaluate.js"
import { Rules } from "../../src/Alerts/Rules.js"
import { Outbound } from "../../src/Http/Outbound.js"
import { type ProjectId, RequestContext } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner } from "../support/Database.js"
import { cleanup, eventually, type Line, uniquePrefix } from "../Queue/Support.js"
import { alertsLayer, receiver, seedTenant, SHORT_STEPS, shortBackoff, startWorkers } from "./Support.js"

const prefix = uniquePrefix("alerts-deliveries")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const ruleInput = (project: ProjectId, url: string): RuleInput => ({
  name: `rule for ${url}`,
  projectId: project,
  level: ["error"],
  threshold: 1,
  windowMinutes: 5,
  webhookUrl: url,
  webhookSecret: "whsec_delivery_tests_0123456789"
})

const statusOf = (deliveryId: string) =>
  Effect.map(
    asOwner((c) =>
      c.query<{ status: string; attempts: number; last_status: number | null }>(
        "SELECT status, attempts, last_status FROM webhook_deliveries WHERE id = $1",
        [deliveryId]
      )
    ),
    (r) => r.rows[0]
  )

const attemptsOf = (deliveryId: string) =>
  Effect.map(
    asOwner((c) =>
      c.query<{ attempt: number; status_code: number | null; error: string | null; duration_ms: number }>(
        "SELECT attempt, status_code, error, duration_ms FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
        [deliveryId]
      )
    ),
    (r) => r.rows
  )

describe("Alert deliveries", () => {
  layer(alertsLayer("alerts-deliveries", prefix, lines), { timeout: "60 seconds", excludeTestServices: true })((it) => {
    /** A rule on `path` that triggers once: one error log, then an evaluation under its own system context. */
    const triggered = (name: string, path: string, base: string) =>
      Effect.gen(function* () {
        const t = yield* seedTenant(name)
        const { rule } = yield* (yield* Rules)
          .create(ruleInput(t.project, `${base}${path}`))
          .pipe(RequestContext.withContext(t.userCtx))
        const sql = yield* SqlClient.SqlClient
        yield* Tenant.transaction(
          sql`INSERT INTO logs (time, organization_id, project_id, service, level, message)
            VALUES (now(), ${t.org}, ${t.project}, 'api', 'error', 'boom')`
        ).pipe(RequestContext.withContext(t.keyCtx))
        const ctx = RequestContext.system("alert-evaluation", { organizationId: t.org, projectId: t.project })
        const result = yield* (yield* AlertEvaluator).evaluate(rule.id).pipe(RequestContext.withContext(ctx))
        if (result._tag !== "Triggered") throw new Error(`expected a trigger, got ${result._tag}`)
        // a second evaluation in the cooldown records nothing
        const again = yield* (yield* AlertEvaluator).evaluate(rule.id).pipe(RequestContext.withContext(ctx))
        expect(again._tag).toBe("CoolingDown")
        return { t, rule, deliveryId: result.deliveryId, ctx }
      })

    it.effect("500, 500, 200: three attempts recorded, delivered once", () =>
      Effect.gen(function* () {
        const hook = yield* receiver
        yield* startWorkers
        hook.script.set("/flaky", [500, 503])
        const { deliveryId, ctx } = yield* triggered("flaky", "/flaky", hook.base)
        yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "delivered"))
        expect(yield* statusOf(deliveryId)).toEqual({ status: "delivered", attempts: 3, last_status: 200 })
        const attempts = yield* attemptsOf(deliveryId)
        expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([
          [1, 500],
          [2, 503],
          [3, 200]
        ])
        expect(attempts[0]!.error).toBe("HTTP 500: answer 500")
        expect(attempts[2]!.error).toBeNull()
        const got = hook.received.filter((r) => r.path === "/flaky")
        expect(got).toHaveLength(3)
        // every attempt is the same event, under the evaluation's request id
        expect(new Set(got.map((r) => (JSON.parse(r.body) as { id: string }).id)).size).toBe(1)
        expect(got.every((r) => r.headers["x-request-id"] === ctx.requestId)).toBe(true)
      }).pipe(Effect.scoped)
    )

    it.effect("a 400 is final: one attempt, failed", () =>
      Effect.gen(function* () {
        const hook = yield* receiver
        yield* startWorkers
        hook.script.set("/bad", [400])
        const { deliveryId } = yield* triggered("bad", "/bad", hook.base)
        yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "failed"))
        // give a wrongly scheduled retry time to show up
        yield* Effect.sleep("300 millis")
        expect(yield* statusOf(deliveryId)).toEqual({ status: "failed", attempts: 1, last_status: 400 })
        expect(hook.received.filter((r) => r.path === "/bad")).toHaveLength(1)
      }).pipe(Effect.scoped)
    )

    it.effect("after the last attempt the delivery is dead; replay delivers it", () =>
      Effect.gen(function* () {
        const hook = yield* receiver
        yield* startWorkers
        hook.script.set(
          "/dead",
          Array.from({ length: SHORT_STEPS + 1 }, () => 502)
        )
        const { t, deliveryId, ctx } = yield* triggered("dead", "/dead", hook.base)
        yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "dead"))
        yield* Effect.sleep("300 millis")
        expect(yield* statusOf(deliveryId)).toEqual({ status: "dead", attempts: SHORT_STEPS + 1, last_status: 502 })

        const deliveries = yield* Deliveries
        yield* deliveries.replay(deliveryId).pipe(RequestContext.withContext(t.userCtx))
        yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "delivered"))
        expect(yield* statusOf(deliveryId)).toEqual({
          status: "delivered",
          attempts: SHORT_STEPS + 2,
          last_status: 200
        })
        const got = hook.received.filter((r) => r.path === "/dead")
        expect(got).toHaveLength(SHORT_STEPS + 2)
        expect(got.slice(0, -1).every((r) => r.headers["x-request-id"] === ctx.requestId)).toBe(true)
        // the replay's attempt runs under the replaying request
        expect(got.at(-1)!.headers["x-request-id"]).toBe(t.userCtx.requestId)
        // a delivered delivery is not replayable
        const again = yield* Effect.exit(deliveries.replay(deliveryId).pipe(RequestContext.withContext(t.userCtx)))
        expect(Exit.isFailure(again) && JSON.stringify(again.cause).includes("Alerts/NotReplayable")).toBe(true)
        const audited = yield* asOwner((c) =>
          c.query("SELECT 1 FROM audit_log WHERE action = 'webhook_delivery.replay' AND target_id = $1", [deliveryId])
        )
        expect(audited.rowCount).toBe(1)
      }).pipe(Effect.scoped)
    )

    it.effect("a receiver that never answers times out and is retried; private destinations refused at delivery", () =>
      Effect.gen(function* () {
        const hook = yield* receiver
        hook.script.set("/hang", [0])
        // a delivery worker whose client times out quickly and, for the second rule, refuses private addresses
        const worker = (allowPrivate: boolean) =>
          Effect.gen(function* () {
            // built in the caller's scope: the client must outlive `Consumer.make`, which returns once started
            const services = yield* Layer.build(
              Deliveries.DefaultWithoutDependencies.pipe(
                Layer.provide(
                  Layer.mergeAll(DeliveriesRepo.Default, RulesRepo.Default, SecretBox.Default, AuditLog.Default)
                ),
                Layer.provide(WebhookSender.DefaultWithoutDependencies),
                Layer.provide(Outbound.layerWith({ allowPrivate, timeoutMs: 300 }))
              )
            )
            yield* Consumer.make(DeliverWebhook, handlers.deliver).pipe(
              Effect.provide(services),
              Effect.provideService(DeliveryBackoff, shortBackoff)
            )
          })
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* worker(true)
            const { deliveryId, ctx } = yield* triggered("hang", "/hang", hook.base)
            yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "delivered"))
            const attempts = yield* attemptsOf(deliveryId)
            expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([
              [1, null],
              [2, 200]
            ])
            expect(attempts[0]!.error).toMatch(/^no response from http:\/\/127\.0\.0\.1:\d+ within 300 ms$/)
            expect(attempts[0]!.duration_ms).toBeGreaterThanOrEqual(250)
            // the worker's log lines carry the evaluation's request id
            const logged = lines.filter((l) => l.msg === "webhook attempt" && l.deliveryId === deliveryId)
            expect(logged.map((l) => [l.job, l.requestId, l.organizationId])).toEqual([
              ["alerts.deliver", ctx.requestId, ctx.organizationId],
              ["alerts.deliver", ctx.requestId, ctx.organizationId]
            ])
          })
        )
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* worker(false)
            const { deliveryId } = yield* triggered("ssrf", "/ssrf", hook.base)
            yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "failed"))
            const attempts = yield* attemptsOf(deliveryId)
            expect(attempts).toHaveLength(1)
            expect(attempts[0]!.status_code).toBeNull()
            // one generic reason for admins, never the address the host resolved to
            expect(attempts[0]!.error).toBe("destination refused")
            expect(hook.received.filter((r) => r.path === "/ssrf")).toHaveLength(0)
          })
        )
      }).pipe(Effect.scoped)
    )

    it.effect("rules: the secret is sealed and never returned; private URLs refused when not allowed", () =>
      Effect.gen(function* () {
        const t = yield* seedTenant("crud")
        const rules = yield* Rules
        const created = yield* rules
          .create(ruleInput(t.project, "http://127.0.0.1:9/hook"))
          .pipe(RequestContext.withContext(t.userCtx))
        expect(Redacted.value(created.webhookSecret)).toBe("whsec_delivery_tests_0123456789")
        const listed = yield* rules.list({}).pipe(RequestContext.withContext(t.userCtx))
        expect(JSON.stringify(listed)).not.toContain("whsec_")
        expect(listed.items.map((r) => r.id)).toEqual([created.rule.id])
        expect(listed.nextCursor).toBeNull()
        const stored = yield* asOwner((c) =>
          c.query<{ s: string }>(
            "SELECT convert_from(webhook_secret_ciphertext, 'UTF8') AS s FROM alert_rules WHERE id = $1",
            [created.rule.id]
          )
        )
        expect(stored.rows[0]!.s).toMatch(/^tsb1\./)
        expect(stored.rows[0]!.s).not.toContain("whsec_")
        // generated secret when none is given
        const { webhookSecret: _omit, ...noSecret } = ruleInput(t.project, "http://127.0.0.1:9/other")
        const generated = yield* rules.create(noSecret).pipe(RequestContext.withContext(t.userCtx))
        expect(Redacted.value(generated.webhookSecret)).toMatch(/^whsec_[A-Za-z0-9_-]{32}$/)

        const updated = yield* rules
          .patch(created.rule.id, { ...ruleInput(t.project, "http://127.0.0.1:9/hook"), threshold: 7 })
          .pipe(RequestContext.withContext(t.userCtx))
        expect(updated.threshold).toBe(7)
        yield* rules.remove(generated.rule.id).pipe(RequestContext.withContext(t.userCtx))
        const gone = yield* Effect.either(rules.get(generated.rule.id).pipe(RequestContext.withContext(t.userCtx)))
        expect(Either.isLeft(gone) && gone.left._tag).toBe("Alerts/RuleNotFound")
        const audit = yield* asOwner((c) =>
          c.query<{ action: string; changes: unknown }>(
            "SELECT action, changes FROM audit_log WHERE action LIKE 'alert_rule.%' AND organization_id = $1 ORDER BY id",
            [t.org]
          )
        )
        expect(audit.rows.map((r) => r.action)).toEqual([
          "alert_rule.create",
          "alert_rule.create",
          "alert_rule.update",
          "alert_rule.delete"
        ])
        expect(JSON.stringify(audit.rows)).not.toContain("whsec_")

        const strict = Rules.Default.pipe(Layer.provide(Outbound.layerWith({ allowPrivate: false, timeoutMs: 2_000 })))
        for (const url of [
          "http://127.0.0.1:8080/h",
          "http://10.0.0.1/h",
          "http://169.254.169.254/latest",
          "http://localhost/h"
        ]) {
          const refused = yield* Effect.either(
            Effect.flatMap(Rules, (r) => r.create(ruleInput(t.project, url))).pipe(
              Effect.provide(strict),
              RequestContext.withContext(t.userCtx)
            )
          )
          expect(Either.isLeft(refused) && refused.left._tag).toBe("Alerts/InvalidWebhookUrl")
        }
        const count = yield* asOwner((c) => c.query("SELECT 1 FROM alert_rules WHERE organization_id = $1", [t.org]))
        expect(count.rowCount).toBe(1)
      })
    )
  })
})
