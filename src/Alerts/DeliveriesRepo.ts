/**
 * SQL for alert events, webhook deliveries and their attempts, all tenant-scoped (caller's tenant transaction or
 * its own). Status changes are guarded by the state they expect (`status = 'pending' AND attempts = n`), so a
 * duplicate or late job can never record an attempt twice or resurrect a finished delivery.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { RequestContext } from "../RequestContext.js"
import { inTenant } from "../Sql/RepoSupport.js"
import { Tenant } from "../Sql/Tenant.js"

export type DeliveryStatus = "pending" | "delivered" | "failed" | "dead"

export interface DeliveryRow {
  readonly id: string
  readonly organizationId: string
  readonly ruleId: string | null
  readonly url: string
  readonly payload: unknown
  readonly status: DeliveryStatus
  readonly attempts: number
}

export interface NewEvent {
  readonly id: string
  readonly ruleId: string
  readonly ruleName: string
  readonly count: number
  readonly threshold: number
  readonly windowMinutes: number
  readonly from: Date
  readonly to: Date
}

export interface AttemptRecord {
  readonly attempt: number
  readonly statusCode: number | null
  readonly durationMs: number
  readonly error: string | null
  readonly next: DeliveryStatus
  readonly nextAttemptAt: Date | null
}

export class DeliveriesRepo extends Effect.Service<DeliveriesRepo>()("Alerts/DeliveriesRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)

    /**
     * Claims the rule's cooldown (atomically: two evaluations cannot both pass it) and, when claimed, records the
     * event and its pending delivery. `None` when the rule is cooling down, disabled or gone.
     */
    const trigger = (event: NewEvent, deliveryId: string, url: string, payloadJson: string) =>
      scoped(
        Effect.gen(function* () {
          const ctx = yield* RequestContext
          const claimed = yield* sql`UPDATE alert_rules SET last_triggered_at = now()
            WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${event.ruleId} AND enabled
              AND (last_triggered_at IS NULL OR last_triggered_at <= now() - cooldown_minutes * interval '1 minute')
            RETURNING id`
          if (claimed.length === 0) return Option.none()
          yield* sql`INSERT INTO alert_events (id, organization_id, project_id, rule_id, rule_name, count, threshold,
              window_minutes, window_from, window_to, request_id)
            VALUES (${event.id}, ${ctx.organizationId}, ${ctx.projectId}, ${event.ruleId}, ${event.ruleName},
              ${event.count}, ${event.threshold}, ${event.windowMinutes}, ${event.from}, ${event.to},
              ${ctx.requestId})`
          yield* sql`INSERT INTO webhook_deliveries (id, organization_id, project_id, alert_event_id, rule_id, url,
              payload, status, next_attempt_at, request_id)
            VALUES (${deliveryId}, ${ctx.organizationId}, ${ctx.projectId}, ${event.id}, ${event.ruleId}, ${url},
              ${payloadJson}::jsonb, 'pending', now(), ${ctx.requestId})`
          return Option.some(deliveryId)
        })
      )

    const find = (id: string) =>
      scoped(
        Effect.gen(function* () {
          const rows = yield* sql<DeliveryRow>`SELECT id, organization_id, rule_id, url, payload, status, attempts
            FROM webhook_deliveries WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${id}`
          return Option.fromNullable(rows[0])
        })
      )

    /** Records attempt `a.attempt` and moves the delivery on; false when another run already recorded it. */
    const recordAttempt = (id: string, a: AttemptRecord) =>
      scoped(
        Effect.gen(function* () {
          const ctx = yield* RequestContext
          const updated = yield* sql`UPDATE webhook_deliveries SET attempts = ${a.attempt}, status = ${a.next},
              last_status = ${a.statusCode}, last_error = ${a.error}, next_attempt_at = ${a.nextAttemptAt},
              delivered_at = CASE WHEN ${a.next} = 'delivered' THEN now() ELSE delivered_at END, updated_at = now()
            WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${id} AND status = 'pending' AND attempts = ${a.attempt - 1}
            RETURNING id`
          if (updated.length === 0) return false
          yield* sql`INSERT INTO webhook_attempts (organization_id, delivery_id, attempt, status_code, duration_ms,
              error, request_id)
            VALUES (${ctx.organizationId}, ${id}, ${a.attempt}, ${a.statusCode}, ${a.durationMs}, ${a.error},
              ${ctx.requestId})`
          return true
        })
      )

    /** Back to `pending` for one more attempt; the number of attempts made so far, or None if not replayable. */
    const reopen = (id: string) =>
      scoped(
        Effect.gen(function* () {
          const rows = yield* sql<{ readonly attempts: number }>`UPDATE webhook_deliveries
            SET status = 'pending', next_attempt_at = now(), updated_at = now()
            WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${id} AND status IN ('dead', 'failed')
            RETURNING attempts`
          return Option.map(Option.fromNullable(rows[0]), (r) => r.attempts)
        })
      )

    return { trigger, find, recordAttempt, reopen } as const
  })
}) {}
