/**
 * Handlers of the `alerts` group. Every route goes through OrgAccess and runs under the organization's context;
 * reads need `member` (who sees webhook URLs without path and query), rule changes and the delivery log `admin`.
 * Malformed rule ids are 404 like unknown ones.
 */
import { Effect, Option, Redacted, Schema } from "effect"
import type { Role } from "../Http/Credentials.js"
import { BadRequest, Conflict, NotFound } from "../Http/Errors.js"
import { OrgAccess } from "../Http/OrgAccess.js"
import { type AlertRule, RuleId } from "./AlertRule.js"
import type { PageQuery, RulePatchPayload, RulePayload } from "./AlertsApi.js"
import { Deliveries } from "./Deliver.js"
import { type AlertEventRow, type DeliveryListRow, EventsRepo } from "./EventsRepo.js"
import { Rules } from "./Rules.js"

type OrgPath = { readonly path: { readonly org: string } }
type RulePath = { readonly path: { readonly org: string; readonly ruleId: string } }
type Paged = OrgPath & { readonly urlParams: typeof PageQuery.Type }

const iso = (d: Date | null) => (d === null ? null : d.toISOString())

/**
 * What a caller of `role` sees of a webhook URL: admins and owners the whole URL, members only
 * `scheme://host[:port]/` — the path, query, credentials and fragment of a webhook URL often are its secret
 * (`https://hooks.example.com/services/T0/B0/XXXX`, `?token=…`).
 */
const webhookUrlFor = (role: Role, url: string): string => {
  if (role !== "member") return url
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}/`
  } catch {
    return ""
  }
}

const ruleView = (r: AlertRule, role: Role) => ({
  id: r.id,
  organizationId: r.organizationId,
  projectId: r.projectId,
  name: r.name,
  service: r.service,
  level: r.level,
  query: r.query,
  threshold: r.threshold,
  windowMinutes: r.windowMinutes,
  cooldownMinutes: r.cooldownMinutes,
  enabled: r.enabled,
  webhookUrl: webhookUrlFor(role, r.webhookUrl),
  lastTriggeredAt: iso(r.lastTriggeredAt),
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString()
})

const eventView = (e: AlertEventRow) => ({
  ...e,
  windowFrom: e.windowFrom.toISOString(),
  windowTo: e.windowTo.toISOString(),
  triggeredAt: e.triggeredAt.toISOString()
})

const deliveryView = (d: DeliveryListRow) => ({
  ...d,
  nextAttemptAt: iso(d.nextAttemptAt),
  createdAt: d.createdAt.toISOString(),
  deliveredAt: iso(d.deliveredAt)
})

const ruleId = (raw: string): Effect.Effect<RuleId, NotFound> =>
  Option.match(Schema.decodeUnknownOption(RuleId)(raw), {
    onNone: () => Effect.fail(new NotFound({ message: "alert rule not found" })),
    onSome: Effect.succeed
  })

const notFound = <A, R>(effect: Effect.Effect<A, { readonly _tag: "Alerts/RuleNotFound"; message: string }, R>) =>
  Effect.catchAll(effect, (e) => Effect.fail(new NotFound({ message: e.message })))

/** A missing rule, or a project that is not the organization's (like the logs routes: 404, never told apart). */
const RULE_ERRORS: ReadonlySet<string> = new Set([
  "Alerts/RuleNotFound",
  "Alerts/RuleProjectNotFound",
  "Alerts/InvalidWebhookUrl"
])
type RuleErrorTag = "Alerts/RuleNotFound" | "Alerts/RuleProjectNotFound" | "Alerts/InvalidWebhookUrl"

/** The rule errors as HTTP errors; others (the quota's LimitReached, 429) pass through with their own status. */
const ruleErrors = <A, E extends { readonly _tag: string; readonly message: string }, R>(
  effect: Effect.Effect<A, E, R>
) =>
  Effect.catchIf(
    effect,
    (e): e is Extract<E, { readonly _tag: RuleErrorTag }> => RULE_ERRORS.has(e._tag),
    (e) =>
      Effect.fail(
        e._tag === "Alerts/InvalidWebhookUrl"
          ? new BadRequest({ message: e.message })
          : new NotFound({ message: e.message })
      )
  )

const badCursor = (e: { readonly message: string }) => Effect.fail(new BadRequest({ message: e.message }))

export const listRules = ({ path, urlParams }: Paged) =>
  OrgAccess.run(path.org, "member", (access) =>
    Effect.flatMap(Rules, (r) => r.list(urlParams)).pipe(
      Effect.map((page) => ({
        rules: page.items.map((rule) => ruleView(rule, access.role)),
        nextCursor: page.nextCursor
      })),
      Effect.catchTag("Alerts/InvalidEventsCursor", badCursor)
    )
  )

export const createRule = ({ path, payload }: OrgPath & { readonly payload: typeof RulePayload.Type }) =>
  OrgAccess.run(path.org, "admin", (access) =>
    ruleErrors(Effect.flatMap(Rules, (r) => r.create(payload))).pipe(
      Effect.map(({ rule, webhookSecret }) => ({
        ...ruleView(rule, access.role),
        webhookSecret: Redacted.value(webhookSecret)
      }))
    )
  )

export const getRule = ({ path }: RulePath) =>
  OrgAccess.run(path.org, "member", (access) =>
    Effect.flatMap(ruleId(path.ruleId), (id) => notFound(Effect.flatMap(Rules, (r) => r.get(id)))).pipe(
      Effect.map((rule) => ruleView(rule, access.role))
    )
  )

export const updateRule = ({ path, payload }: RulePath & { readonly payload: typeof RulePatchPayload.Type }) =>
  OrgAccess.run(path.org, "admin", (access) =>
    Effect.flatMap(ruleId(path.ruleId), (id) => ruleErrors(Effect.flatMap(Rules, (r) => r.patch(id, payload)))).pipe(
      Effect.map((rule) => ruleView(rule, access.role))
    )
  )

export const deleteRule = ({ path }: RulePath) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.flatMap(ruleId(path.ruleId), (id) => notFound(Effect.flatMap(Rules, (r) => r.remove(id)))).pipe(
      Effect.asVoid
    )
  )

export const listEvents = ({ path, urlParams }: Paged) =>
  OrgAccess.run(path.org, "member", () =>
    Effect.flatMap(EventsRepo, (repo) => repo.listEvents(urlParams)).pipe(
      Effect.map((page) => ({ items: page.items.map(eventView), nextCursor: page.nextCursor })),
      Effect.catchTag("Alerts/InvalidEventsCursor", badCursor)
    )
  )

export const listDeliveries = ({ path, urlParams }: Paged) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.flatMap(EventsRepo, (repo) => repo.listDeliveries(urlParams)).pipe(
      Effect.map((page) => ({ items: page.items.map(deliveryView), nextCursor: page.nextCursor })),
      Effect.catchTag("Alerts/InvalidEventsCursor", badCursor)
    )
  )

export const replayDelivery = ({ path }: { readonly path: { readonly org: string; readonly deliveryId: string } }) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.flatMap(Deliveries, (d) => d.replay(path.deliveryId)).pipe(
      Effect.catchTags({
        "Alerts/DeliveryNotFound": (e) => Effect.fail(new NotFound({ message: e.message })),
        "Alerts/NotReplayable": (e) => Effect.fail(new Conflict({ message: e.message })),
        // Redis down while enqueueing: a defect the error pipeline answers 503 (it looks through the cause chain)
        QueueError: Effect.die
      })
    )
  )
