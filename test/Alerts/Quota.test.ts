/**
 * The limits area at the alert side, on the roles' composition (alertsLayer provides src/Limits/LimitsLive.ts):
 * an organization over its quota is not evaluated (a log line and an `alert.evaluation_skipped` audit row under the
 * evaluation's context), and alert rules past the organization's quota are refused with LimitReached (429).
 */
import { SqlClient } from "@effect/sql"
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { RuleInput } from "../../src/Alerts/AlertRule.js"
import { AlertEvaluator } from "../../src/Alerts/Evaluate.js"
import { Rules } from "../../src/Alerts/Rules.js"
import { OrganizationLimits } from "../../src/Limits/OrganizationLimits.js"
import { type ProjectId, RequestContext } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner } from "../support/Database.js"
import { cleanup, type Line, uniquePrefix } from "../Queue/Support.js"
import { alertsLayer, seedTenant } from "./Support.js"

const prefix = uniquePrefix("alerts-quota")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const ruleInput = (project: ProjectId, name: string): RuleInput => ({
  name,
  projectId: project,
  level: ["error"],
  threshold: 1,
  windowMinutes: 5,
  webhookUrl: "http://127.0.0.1:9/hook",
  webhookSecret: "whsec_quota_tests_0123456789"
})

describe("alert quotas", () => {
  layer(alertsLayer("alerts-quota", prefix, lines), { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("an organization over its ingestion quota is skipped, with a log line and an audit row", () =>
      Effect.gen(function* () {
        const t = yield* seedTenant("overquota")
        const { rule } = yield* (yield* Rules)
          .create(ruleInput(t.project, "over quota"))
          .pipe(RequestContext.withContext(t.userCtx))
        const sql = yield* SqlClient.SqlClient
        yield* Tenant.transaction(
          sql`INSERT INTO logs (time, organization_id, project_id, service, level, message)
            VALUES (now(), ${t.org}, ${t.project}, 'api', 'error', 'boom')`
        ).pipe(RequestContext.withContext(t.keyCtx))
        // 0 suspends ingestion: the organization is at (over) its monthly quota
        yield* (yield* OrganizationLimits)
          .put(t.org, { quotas: { ingestEventsPerMonth: 0 } })
          .pipe(RequestContext.withContext(t.userCtx))

        const ctx = RequestContext.system("alert-evaluation", { organizationId: t.org, projectId: t.project })
        const result = yield* (yield* AlertEvaluator).evaluate(rule.id).pipe(RequestContext.withContext(ctx))
        expect(result).toEqual({ _tag: "Skipped", reason: "over-quota" })
        // the next ticks skip it again without another audit row or warning (once an hour per organization)
        const later = RequestContext.system("alert-evaluation", { organizationId: t.org, projectId: t.project })
        for (let tick = 0; tick < 3; tick++) {
          const again = yield* (yield* AlertEvaluator).evaluate(rule.id).pipe(RequestContext.withContext(later))
          expect(again).toEqual({ _tag: "Skipped", reason: "over-quota" })
        }

        const audit = yield* asOwner((c) =>
          c.query<{ request_id: string; actor_type: string; changes: { quotas: Array<string> } }>(
            "SELECT request_id, actor_type, changes FROM audit_log WHERE organization_id = $1 AND action = $2",
            [t.org, "alert.evaluation_skipped"]
          )
        )
        expect(audit.rows).toHaveLength(1)
        expect(audit.rows[0]).toMatchObject({ request_id: ctx.requestId, actor_type: "system" })
        expect(audit.rows[0]!.changes.quotas).toEqual(["ingestEventsPerMonth"])
        const warning = lines.find(
          (l) => l.msg === "limits: alert evaluation skipped, organization over quota" && l.requestId === ctx.requestId
        )
        expect(warning).toBeDefined()
        expect(lines.filter((l) => l.msg === "limits: alert evaluation skipped, organization over quota")).toHaveLength(
          1
        )
        const events = yield* asOwner((c) => c.query("SELECT 1 FROM alert_events WHERE organization_id = $1", [t.org]))
        expect(events.rows).toHaveLength(0)

        // back under quota (null restores the default): the same rule triggers
        yield* (yield* OrganizationLimits)
          .put(t.org, { quotas: { ingestEventsPerMonth: null } })
          .pipe(RequestContext.withContext(t.userCtx))
        const again = yield* (yield* AlertEvaluator).evaluate(rule.id).pipe(RequestContext.withContext(ctx))
        expect(again._tag).toBe("Triggered")
      })
    )

    it.effect("alert rules past the organization's quota are refused with LimitReached", () =>
      Effect.gen(function* () {
        const t = yield* seedTenant("rulequota")
        yield* (yield* OrganizationLimits)
          .put(t.org, { quotas: { alertRules: 2 } })
          .pipe(RequestContext.withContext(t.userCtx))
        const rules = yield* Rules
        const create = (name: string) =>
          Effect.either(rules.create(ruleInput(t.project, name)).pipe(RequestContext.withContext(t.userCtx)))
        // concurrently: the advisory lock in the inserting transaction keeps them from overshooting together
        const results = yield* Effect.all([create("a"), create("b"), create("c"), create("d")], {
          concurrency: "unbounded"
        })
        expect(results.filter(Either.isRight)).toHaveLength(2)
        const refused = results.filter(Either.isLeft).map((r) => r.left)
        expect(refused).toHaveLength(2)
        for (const e of refused) expect(e).toMatchObject({ _tag: "LimitReached", resource: "alertRules", limit: 2 })
        const stored = yield* asOwner((c) => c.query("SELECT 1 FROM alert_rules WHERE organization_id = $1", [t.org]))
        expect(stored.rows).toHaveLength(2)
      })
    )
  })
})
