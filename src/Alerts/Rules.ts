/**
 * Alert rule operations for the API: create, list, get, update (PUT), delete. Every change runs with its audit row
 * in one tenant transaction. The webhook URL is checked by the outbound guard when it is saved (delivery checks
 * again at connect time); the secret is sealed with SecretBox bound to `<organizationId>/<ruleId>` and returned once,
 * by `create` (generated when the caller gives none).
 */
import { Quotas } from "../Limits/Quotas.js"
import { randomBytes } from "node:crypto"
import { Effect, Option, Redacted } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { type DestinationRefused, dependsOnNetwork, OutboundGuard } from "../Http/Outbound.js"
import { RequestContext } from "../RequestContext.js"
import {
  type AlertRule,
  InvalidWebhookUrl,
  makeRuleId,
  type RuleId,
  patchedInput,
  type RuleInput,
  type RulePatch,
  RuleNotFound,
  secretOwner
} from "./AlertRule.js"
import type { PageOptions } from "./EventsRepo.js"
import { type RuleRow, RulesRepo, toApi } from "./RulesRepo.js"
import { SecretBox } from "./SecretBox.js"

const DEFAULT_COOLDOWN_MINUTES = 15

/** What the tenant is told for every refusal that depends on resolution or the address class. */
const NETWORK_REFUSAL = "the destination is not allowed or does not resolve"

const rowOf = (id: RuleId, input: RuleInput): RuleRow => ({
  id,
  projectId: input.projectId ?? null,
  name: input.name,
  service: input.service ?? null,
  levels: [...new Set(input.level)],
  query: input.query ?? null,
  threshold: input.threshold,
  windowMinutes: input.windowMinutes,
  cooldownMinutes: input.cooldownMinutes ?? DEFAULT_COOLDOWN_MINUTES,
  enabled: input.enabled ?? true,
  webhookUrl: input.webhookUrl
})

/** What the audit row keeps: the rule's settings, never the secret nor the URL's path (it may carry a token). */
const auditChanges = (rule: AlertRule) => ({
  name: rule.name,
  projectId: rule.projectId,
  threshold: rule.threshold,
  windowMinutes: rule.windowMinutes,
  enabled: rule.enabled,
  webhookOrigin: URL.canParse(rule.webhookUrl) ? new URL(rule.webhookUrl).origin : null
})

export class Rules extends Effect.Service<Rules>()("Alerts/Rules", {
  effect: Effect.gen(function* () {
    const repo = yield* RulesRepo
    const audit = yield* AuditLog
    const guard = yield* OutboundGuard
    const box = yield* SecretBox
    const quotas = yield* Quotas

    /**
     * A refusal that depends on resolution or the address class answers one generic reason (a precise one would
     * tell the tenant how internal names resolve); its detail goes to the operators' warning line, with the
     * request's context. A URL refused for its syntax keeps its precise reason.
     */
    const refusal = (cause: DestinationRefused) =>
      dependsOnNetwork(cause)
        ? Effect.as(
            Effect.logWarning("webhook URL refused", {
              host: cause.host,
              address: cause.address,
              reason: cause.reason
            }),
            new InvalidWebhookUrl({ reason: NETWORK_REFUSAL, cause })
          )
        : Effect.succeed(new InvalidWebhookUrl({ reason: cause.reason, cause }))

    const checkUrl = (url: string) =>
      guard.check(url).pipe(Effect.catchAll((cause) => Effect.flatMap(refusal(cause), Effect.fail)))

    const seal = (ruleId: RuleId, secret: Redacted.Redacted<string>) =>
      Effect.flatMap(RequestContext, (ctx) => box.encrypt(secret, secretOwner(ctx.organizationId, ruleId)))

    /** Returns the rule and its secret, the only time the secret leaves. */
    const create = (input: RuleInput) =>
      Effect.gen(function* () {
        yield* checkUrl(input.webhookUrl)
        const id = makeRuleId()
        const secret = Redacted.make(input.webhookSecret ?? `whsec_${randomBytes(24).toString("base64url")}`)
        const sealed = yield* seal(id, secret)
        const rule = yield* audit.audited(
          // the organization's rule quota, checked in the inserting transaction (429 LimitReached at the limit)
          Effect.zipRight(
            quotas.checkCreate("alertRules"),
            Effect.map(repo.insert({ ...rowOf(id, input), secret: sealed }), toApi)
          ),
          (r) => ({ action: "alert_rule.create", target: { type: "alert_rule", id: r.id }, changes: auditChanges(r) })
        )
        return { rule, webhookSecret: secret } as const
      }).pipe(Effect.withSpan("Rules.create"))

    const list = (options: PageOptions) =>
      Effect.map(repo.list(options), (page) => ({ items: page.items.map(toApi), nextCursor: page.nextCursor }))

    const get = (id: string) =>
      Effect.flatMap(repo.find(id), (row) =>
        Option.match(row, {
          onNone: () => Effect.fail(new RuleNotFound({ ruleId: id })),
          onSome: (r) => Effect.succeed(toApi(r))
        })
      )

    const remove = (id: string) =>
      audit.audited(
        Effect.filterOrFail(
          repo.remove(id),
          (removed) => removed,
          () => new RuleNotFound({ ruleId: id })
        ),
        () => ({ action: "alert_rule.delete", target: { type: "alert_rule", id } })
      )

    /**
     * A partial PUT: the current rule is read and locked, the patch laid over it and written in one transaction with
     * its audit row, so two concurrent patches of different fields both land (read in one transaction and written in
     * another, the second write put back the first's field as it was before).
     */
    const patch = (id: RuleId, changes: RulePatch) =>
      Effect.gen(function* () {
        if (changes.webhookUrl !== undefined) yield* checkUrl(changes.webhookUrl)
        const sealed =
          changes.webhookSecret === undefined ? null : yield* seal(id, Redacted.make(changes.webhookSecret))
        return yield* audit.audited(
          Effect.gen(function* () {
            const current = yield* repo.find(id, { forUpdate: true })
            if (Option.isNone(current)) return yield* new RuleNotFound({ ruleId: id })
            const row = yield* repo.update({
              ...rowOf(id, patchedInput(toApi(current.value), changes)),
              secret: sealed
            })
            return yield* Option.match(row, {
              onNone: () => Effect.fail(new RuleNotFound({ ruleId: id })),
              onSome: (r) => Effect.succeed(toApi(r))
            })
          }),
          (r) => ({
            action: "alert_rule.update",
            target: { type: "alert_rule", id: r.id },
            changes: { ...auditChanges(r), secretRotated: sealed !== null }
          })
        )
      }).pipe(Effect.withSpan("Rules.patch"))

    return { create, list, get, patch, remove } as const
  }),
  dependencies: [RulesRepo.Default, AuditLog.Default, SecretBox.Default]
}) {}
