/**
 * Alert evaluation. `AlertEvaluator.evaluate(ruleId)` runs inside a unit of work (its type requires
 * `RequestContext`: test/types/Alerts.types.ts): it counts the rule's matching logs in the last `windowMinutes`
 * on the read client under the tenant's scope, and when the count reaches the threshold it claims the cooldown,
 * records the alert event and a pending delivery (both with the context's request id) and enqueues the delivery.
 *
 * `tick` is the scheduler's fan-out: under its system context it lists enabled rules of every organization through
 * the audited bypass and enqueues one evaluation per rule and window bucket (job id dedupe), each under a fresh
 * system context for the rule's organization and project, so each evaluation has its own request id.
 */
import { Quotas } from "../Limits/Quotas.js"
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Option } from "effect"
import { Producer } from "../Queue/Producer.js"
import { type OrganizationId, type ProjectId, RequestContext } from "../RequestContext.js"
import { ReadSql } from "../Sql/Client.js"
import { Tenant } from "../Sql/Tenant.js"
import { deliveryJobId, DeliverWebhook, EvaluateAlert, evaluationJobId } from "./AlertJobs.js"
import { makeDeliveryId } from "./AlertRule.js"
import { DeliveriesRepo } from "./DeliveriesRepo.js"
import { type StoredRule, RulesRepo } from "./RulesRepo.js"
import { makeEventId, toBody, type WebhookPayload } from "./WebhookPayload.js"

const TICK_BYPASS_REASON = "alerts-tick"
const EVALUATION_REASON = "alert-evaluation"

export type Evaluation =
  | { readonly _tag: "Skipped"; readonly reason: "missing" | "disabled" | "over-quota" }
  | { readonly _tag: "Below"; readonly count: number }
  | { readonly _tag: "CoolingDown"; readonly count: number }
  | { readonly _tag: "Triggered"; readonly count: number; readonly eventId: string; readonly deliveryId: string }

const MINUTE_MS = 60_000

/** The bucket a tick at `nowMs` evaluates: one evaluation per rule per `windowMinutes`. */
const windowStart = (nowMs: number, windowMinutes: number): number =>
  Math.floor(nowMs / (windowMinutes * MINUTE_MS)) * windowMinutes * MINUTE_MS

export class AlertEvaluator extends Effect.Service<AlertEvaluator>()("Alerts/AlertEvaluator", {
  effect: Effect.gen(function* () {
    const rules = yield* RulesRepo
    const deliveries = yield* DeliveriesRepo
    const producer = yield* Producer
    const readSql = yield* ReadSql
    const sql = yield* SqlClient.SqlClient
    const quotas = yield* Quotas

    /** COUNT of the rule's matching logs in [from, to), on the read client in the tenant's scope. */
    const countMatching = (rule: StoredRule, from: Date, to: Date) =>
      Tenant.read(
        Effect.gen(function* () {
          const clauses = [yield* Tenant.orgFilter(readSql), readSql`time >= ${from}`, readSql`time < ${to}`]
          if (rule.projectId !== null) clauses.push(readSql`project_id = ${rule.projectId}`)
          if (rule.service !== null) clauses.push(readSql`service = ${rule.service}`)
          if (rule.levels.length > 0) clauses.push(readSql.in("level", rule.levels))
          if (rule.query !== null) {
            clauses.push(readSql`to_tsvector('simple', message) @@ websearch_to_tsquery('simple', ${rule.query})`)
          }
          const rows = yield* readSql<{ readonly n: number }>`SELECT count(*)::int AS n FROM logs
            WHERE ${readSql.and(clauses)}`
          return rows[0]?.n ?? 0
        })
      ).pipe(Effect.orDie, Effect.provideService(ReadSql, readSql))

    const evaluate = (ruleId: string) =>
      Effect.gen(function* () {
        const found = yield* rules.find(ruleId)
        if (Option.isNone(found)) return { _tag: "Skipped", reason: "missing" } satisfies Evaluation
        const rule = found.value
        if (!rule.enabled) return { _tag: "Skipped", reason: "disabled" } satisfies Evaluation
        // an organization over its monthly or storage quota is not evaluated (logged and audited by the check)
        if (!(yield* quotas.allowAlertEvaluation)) {
          return { _tag: "Skipped", reason: "over-quota" } satisfies Evaluation
        }
        const nowMs = yield* Clock.currentTimeMillis
        const to = new Date(nowMs)
        const from = new Date(nowMs - rule.windowMinutes * MINUTE_MS)
        const count = yield* countMatching(rule, from, to)
        if (count < rule.threshold) return { _tag: "Below", count } satisfies Evaluation

        const ctx = yield* RequestContext
        const eventId = makeEventId()
        const deliveryId = makeDeliveryId()
        const payload: WebhookPayload = {
          id: eventId,
          type: "alert.triggered",
          version: 1,
          occurredAt: to,
          organizationId: ctx.organizationId,
          projectId: ctx.projectId,
          data: {
            ruleId: rule.id,
            ruleName: rule.name,
            count,
            threshold: rule.threshold,
            windowMinutes: rule.windowMinutes,
            from,
            to
          }
        }
        const event = {
          id: eventId,
          ruleId: rule.id,
          ruleName: rule.name,
          count,
          threshold: rule.threshold,
          windowMinutes: rule.windowMinutes,
          from,
          to
        }
        const claimed = yield* deliveries.trigger(event, deliveryId, rule.webhookUrl, toBody(payload))
        if (Option.isNone(claimed)) return { _tag: "CoolingDown", count } satisfies Evaluation
        // After commit, so the delivery job always finds its row.
        yield* producer.enqueue(DeliverWebhook, { deliveryId, attempt: 1 }, { jobId: deliveryJobId(deliveryId, 1) })
        yield* Effect.logInfo("alert triggered", {
          ruleId: rule.id,
          count,
          threshold: rule.threshold,
          eventId,
          deliveryId
        })
        return { _tag: "Triggered", count, eventId, deliveryId } satisfies Evaluation
      }).pipe(Effect.withSpan("AlertEvaluator.evaluate", { attributes: { ruleId } }))

    /** The scheduler's run: one evaluation job per enabled rule and window bucket. Needs a system context. */
    const tick = Effect.gen(function* () {
      const enabled = yield* Tenant.bypass(
        TICK_BYPASS_REASON,
        sql<{
          readonly id: string
          readonly organizationId: OrganizationId
          readonly projectId: ProjectId | null
          readonly windowMinutes: number
        }>`SELECT id, organization_id, project_id, window_minutes FROM alert_rules WHERE enabled ORDER BY id`
      ).pipe(Effect.orDie, Effect.provideService(SqlClient.SqlClient, sql))
      const nowMs = yield* Clock.currentTimeMillis
      yield* Effect.forEach(
        enabled,
        (rule) => {
          const start = windowStart(nowMs, rule.windowMinutes)
          const ctx = RequestContext.system(EVALUATION_REASON, {
            organizationId: rule.organizationId,
            projectId: rule.projectId
          })
          return producer
            .enqueue(EvaluateAlert, { ruleId: rule.id, windowStart: start }, { jobId: evaluationJobId(rule.id, start) })
            .pipe(RequestContext.withContext(ctx))
        },
        { concurrency: 8, discard: true }
      )
      yield* Effect.logInfo("alert tick", { rules: enabled.length })
      return enabled.length
    }).pipe(Effect.withSpan("AlertEvaluator.tick"))

    return { evaluate, tick } as const
  }),
  dependencies: [RulesRepo.Default, DeliveriesRepo.Default]
}) {}
