/**
 * The alert rule as the API sees it (API.md, "Alert rule"), its ids, and the errors rule operations can end in.
 * The webhook secret is write-only: it goes in on create/update and comes back once, on create; nothing else ever
 * returns it.
 */
import { Data, Schema } from "effect"
import type { DestinationRefused } from "../Http/Outbound.js"
import { Level } from "../Logs/Entry.js"
import { makeId, ProjectId } from "../RequestContext.js"

export const RuleId = Schema.String.pipe(Schema.pattern(/^alr_[A-Za-z0-9]{1,60}$/), Schema.brand("AlertRuleId"))
export type RuleId = typeof RuleId.Type
export const makeRuleId = (): RuleId => makeId("alr") as RuleId

export const DeliveryId = Schema.String.pipe(Schema.pattern(/^whd_[A-Za-z0-9]{1,60}$/), Schema.brand("DeliveryId"))
export type DeliveryId = typeof DeliveryId.Type
export const makeDeliveryId = (): DeliveryId => makeId("whd") as DeliveryId

export const RuleInput = Schema.Struct({
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  projectId: Schema.optional(Schema.NullOr(ProjectId)),
  service: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))),
  level: Schema.Array(Level).pipe(Schema.maxItems(5)),
  query: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)))),
  threshold: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  windowMinutes: Schema.Int.pipe(Schema.between(1, 24 * 60)),
  cooldownMinutes: Schema.optional(Schema.Int.pipe(Schema.between(0, 7 * 24 * 60))),
  enabled: Schema.optional(Schema.Boolean),
  webhookUrl: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2000)),
  // any non-empty secret: the receiver chooses it (API.md sets no length); when absent one is generated
  webhookSecret: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))
})
export type RuleInput = typeof RuleInput.Type

/**
 * The body of PUT: any subset of the rule's fields. Fields left out keep their current value (a client can send
 * `{ "enabled": false }`, or the document it read back); `null` clears an optional field.
 */
export const RulePatch = Schema.partial(RuleInput)
export type RulePatch = typeof RulePatch.Type

/** The rule after `patch`: the patch's fields where present, the current rule's elsewhere. */
export const patchedInput = (current: AlertRule, patch: RulePatch): RuleInput => {
  const base: RuleInput = {
    name: current.name,
    projectId: current.projectId === null ? null : ProjectId.make(current.projectId),
    service: current.service,
    level: current.level as RuleInput["level"],
    query: current.query,
    threshold: current.threshold,
    windowMinutes: current.windowMinutes,
    cooldownMinutes: current.cooldownMinutes,
    enabled: current.enabled,
    webhookUrl: current.webhookUrl
  }
  // the patch's value where it has the key (`null` included), the current one elsewhere
  const pick = <K extends keyof RuleInput>(key: K): RuleInput[K] => (patch[key] !== undefined ? patch[key] : base[key])
  return {
    name: pick("name"),
    projectId: pick("projectId"),
    service: pick("service"),
    level: pick("level"),
    query: pick("query"),
    threshold: pick("threshold"),
    windowMinutes: pick("windowMinutes"),
    cooldownMinutes: pick("cooldownMinutes"),
    enabled: pick("enabled"),
    webhookUrl: pick("webhookUrl"),
    ...(patch.webhookSecret !== undefined ? { webhookSecret: patch.webhookSecret } : {})
  }
}

/** What list/get/update return: no secret, only whether one is set. */
export interface AlertRule {
  readonly id: RuleId
  readonly organizationId: string
  readonly projectId: string | null
  readonly name: string
  readonly service: string | null
  readonly level: ReadonlyArray<string>
  readonly query: string | null
  readonly threshold: number
  readonly windowMinutes: number
  readonly cooldownMinutes: number
  readonly enabled: boolean
  readonly webhookUrl: string
  readonly lastTriggeredAt: Date | null
  readonly createdAt: Date
  readonly updatedAt: Date
}

export class RuleNotFound extends Data.TaggedError("Alerts/RuleNotFound")<{ readonly ruleId: string }> {
  override get message() {
    return `alert rule ${this.ruleId} not found`
  }
}

/**
 * The webhook URL was refused by the outbound guard: a 400. `reason` is what the tenant reads: the precise one for
 * the URL's syntax (bad scheme, invalid URL), one generic reason for anything that depends on resolution or the
 * address class (Rules.ts); `cause` keeps the detail for operators.
 */
export class InvalidWebhookUrl extends Data.TaggedError("Alerts/InvalidWebhookUrl")<{
  readonly reason: string
  readonly cause: DestinationRefused
}> {
  override get message() {
    return `webhook URL refused: ${this.reason}`
  }
}

/** The rule names a project that is not one of the organization's (unknown, deleted, or another tenant's). */
export class RuleProjectNotFound extends Data.TaggedError("Alerts/RuleProjectNotFound")<{
  readonly projectId: string
}> {
  override get message() {
    return `project ${this.projectId} not found`
  }
}

export class DeliveryNotFound extends Data.TaggedError("Alerts/DeliveryNotFound")<{ readonly deliveryId: string }> {
  override get message() {
    return `webhook delivery ${this.deliveryId} not found`
  }
}

/** Only `dead` and `failed` deliveries can be replayed; a pending or delivered one cannot. */
export class NotReplayable extends Data.TaggedError("Alerts/NotReplayable")<{ readonly status: string }> {
  override get message() {
    return `a ${this.status} delivery cannot be replayed`
  }
}

/** Associated data binding a stored secret to its rule (SecretBox). */
export const secretOwner = (organizationId: string, ruleId: string): string => `${organizationId}/${ruleId}`
