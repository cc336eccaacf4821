/**
 * The webhook body of API.md. `version` is the body's format version; a receiver can refuse a version it does not
 * know. `id` (`evt_…`) is the same on every attempt and replay of one event, so receivers can deduplicate by it.
 */
import { Schema } from "effect"
import { makeId, OrganizationId, ProjectId } from "../RequestContext.js"

export const WebhookEventId = Schema.String.pipe(
  Schema.pattern(/^evt_[A-Za-z0-9]{1,60}$/),
  Schema.brand("WebhookEventId")
)
export type WebhookEventId = typeof WebhookEventId.Type

export const makeEventId = (): WebhookEventId => makeId("evt") as WebhookEventId

const IsoDate = Schema.Date.annotations({ description: "ISO-8601 date-time" })
const Count = Schema.Int.pipe(Schema.nonNegative())
const Positive = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))

export const AlertTriggeredData = Schema.Struct({
  ruleId: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)),
  ruleName: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  /** Matching logs counted in [from, to). */
  count: Count,
  threshold: Positive,
  windowMinutes: Positive,
  from: IsoDate,
  to: IsoDate
})
export type AlertTriggeredData = typeof AlertTriggeredData.Type

export const WebhookPayload = Schema.Struct({
  id: WebhookEventId,
  type: Schema.Literal("alert.triggered"),
  version: Schema.Literal(1),
  occurredAt: IsoDate,
  organizationId: OrganizationId,
  projectId: Schema.NullOr(ProjectId),
  data: AlertTriggeredData
})
export type WebhookPayload = typeof WebhookPayload.Type

const encode = Schema.encodeSync(WebhookPayload)

/** The exact bytes that are signed and sent. Throws only for a value outside the Type (an Invalid Date): a bug. */
export const toBody = (payload: WebhookPayload): string => JSON.stringify(encode(payload))

/** For receivers (and tests): the raw body back to a payload. */
export const fromBody = Schema.decodeUnknownEither(Schema.parseJson(WebhookPayload))
