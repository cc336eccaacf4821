/**
 * The alert routes (API.md): rules (members read, owner/admin change), triggered events, and the webhook delivery
 * log with replay (admin). The webhook secret is write-only: it appears in the reply to create, and nowhere else.
 * Authentication is attached in src/Http/Api.ts.
 */
import { LimitReached } from "../Limits/Quotas.js"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { BadRequest, Conflict, Forbidden, NotFound } from "../Http/Errors.js"
import { RuleInput, RulePatch } from "./AlertRule.js"

const strict = { parseOptions: { errors: "all" as const } }

export const RulePayload = RuleInput.annotations(strict)
export const RulePatchPayload = RulePatch.annotations(strict)

const OrgPath = Schema.Struct({ org: Schema.String })
const RulePath = Schema.Struct({ org: Schema.String, ruleId: Schema.String })

export const PageQuery = Schema.Struct({
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 200)))
}).annotations(strict)

const Iso = Schema.String
const NullableIso = Schema.NullOr(Schema.String)

export const RuleView = Schema.Struct({
  id: Schema.String,
  organizationId: Schema.String,
  projectId: Schema.NullOr(Schema.String),
  name: Schema.String,
  service: Schema.NullOr(Schema.String),
  level: Schema.Array(Schema.String),
  query: Schema.NullOr(Schema.String),
  threshold: Schema.Int,
  windowMinutes: Schema.Int,
  cooldownMinutes: Schema.Int,
  enabled: Schema.Boolean,
  webhookUrl: Schema.String.annotations({
    description: "the whole URL for owners and admins; members see only `scheme://host[:port]/`"
  }),
  lastTriggeredAt: NullableIso,
  createdAt: Iso,
  updatedAt: Iso
})

export const CreatedRule = Schema.Struct({ ...RuleView.fields, webhookSecret: Schema.String })

export const EventView = Schema.Struct({
  id: Schema.String,
  projectId: Schema.NullOr(Schema.String),
  ruleId: Schema.NullOr(Schema.String),
  ruleName: Schema.String,
  count: Schema.Int,
  threshold: Schema.Int,
  windowMinutes: Schema.Int,
  windowFrom: Iso,
  windowTo: Iso,
  triggeredAt: Iso,
  requestId: Schema.NullOr(Schema.String)
})

export const DeliveryView = Schema.Struct({
  id: Schema.String,
  alertEventId: Schema.NullOr(Schema.String),
  ruleId: Schema.NullOr(Schema.String),
  url: Schema.String,
  eventType: Schema.String,
  status: Schema.String,
  attempts: Schema.Int,
  lastStatus: Schema.NullOr(Schema.Int),
  lastError: Schema.NullOr(Schema.String),
  nextAttemptAt: NullableIso,
  createdAt: Iso,
  deliveredAt: NullableIso
})

const pageOf = <A, I>(item: Schema.Schema<A, I>) =>
  Schema.Struct({ items: Schema.Array(item), nextCursor: Schema.NullOr(Schema.String) })

export class AlertsApi extends HttpApiGroup.make("alerts")
  .add(
    HttpApiEndpoint.get("listRules", "/api/v1/orgs/:org/alert-rules")
      .setPath(OrgPath)
      .setUrlParams(PageQuery)
      .addSuccess(Schema.Struct({ rules: Schema.Array(RuleView), nextCursor: Schema.NullOr(Schema.String) }))
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.post("createRule", "/api/v1/orgs/:org/alert-rules")
      .setPath(OrgPath)
      .setPayload(RulePayload)
      .addSuccess(CreatedRule, { status: 201 })
      .addError(BadRequest)
      // 403 at the organization's alert-rule quota
      .addError(LimitReached)
  )
  .add(HttpApiEndpoint.get("getRule", "/api/v1/orgs/:org/alert-rules/:ruleId").setPath(RulePath).addSuccess(RuleView))
  .add(
    HttpApiEndpoint.put("updateRule", "/api/v1/orgs/:org/alert-rules/:ruleId")
      .setPath(RulePath)
      .setPayload(RulePatchPayload)
      .addSuccess(RuleView)
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.del("deleteRule", "/api/v1/orgs/:org/alert-rules/:ruleId")
      .setPath(RulePath)
      .addSuccess(HttpApiSchema.NoContent)
  )
  .add(
    HttpApiEndpoint.get("listEvents", "/api/v1/orgs/:org/alert-events")
      .setPath(OrgPath)
      .setUrlParams(PageQuery)
      .addSuccess(pageOf(EventView))
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.get("listDeliveries", "/api/v1/orgs/:org/webhook-deliveries")
      .setPath(OrgPath)
      .setUrlParams(PageQuery)
      .addSuccess(pageOf(DeliveryView))
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.post("replayDelivery", "/api/v1/orgs/:org/webhook-deliveries/:deliveryId/replay")
      .setPath(Schema.Struct({ org: Schema.String, deliveryId: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
      .addError(Conflict)
  )
  .addError(NotFound)
  .addError(Forbidden) {}
