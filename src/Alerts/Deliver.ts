/**
 * The webhook delivery job and replay. One run = one attempt: load the pending delivery, open its rule's secret
 * (SecretBox, bound to `<organizationId>/<ruleId>`), send (WebhookSender never fails), then record the attempt and
 * the delivery's new state in one transaction, and enqueue the next attempt when the outcome is `retry` and the
 * backoff schedule has a step left (else `dead`). A final answer (4xx, 3xx, refused destination) is `failed`.
 *
 * The job runs under the evaluation's context, so every attempt's `X-Request-Id` is the evaluation's request id.
 */
import { Clock, Context, Duration, Effect, Option, Schema } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { Producer } from "../Queue/Producer.js"
import { RequestContext } from "../RequestContext.js"
import { deliveryJobId, DeliverWebhook } from "./AlertJobs.js"
import { DeliveryNotFound, NotReplayable, secretOwner } from "./AlertRule.js"
import * as Backoff from "./Backoff.js"
import { type DeliveryStatus, DeliveriesRepo } from "./DeliveriesRepo.js"
import { RulesRepo } from "./RulesRepo.js"
import { SecretBox } from "./SecretBox.js"
import { type AttemptResult, WebhookSender } from "./WebhookSender.js"
import { WebhookPayload } from "./WebhookPayload.js"

/** The retry schedule; tests provide a short one. */
export class DeliveryBackoff extends Context.Reference<DeliveryBackoff>()("Alerts/DeliveryBackoff", {
  defaultValue: () => ({ nextDelay: Backoff.nextDelay })
}) {}

const decodePayload = Schema.decodeUnknown(WebhookPayload)

/** A delivery that cannot even be attempted (rule deleted, secret unreadable): recorded as a final failure. */
const unsendable = (error: string): AttemptResult => ({ outcome: "final", status: null, durationMs: 0, error })

export class Deliveries extends Effect.Service<Deliveries>()("Alerts/Deliveries", {
  effect: Effect.gen(function* () {
    const repo = yield* DeliveriesRepo
    const rules = yield* RulesRepo
    const box = yield* SecretBox
    const sender = yield* WebhookSender
    const producer = yield* Producer
    const audit = yield* AuditLog

    const attemptOnce = (delivery: {
      readonly id: string
      readonly ruleId: string | null
      readonly url: string
      readonly payload: unknown
    }) =>
      Effect.gen(function* () {
        const ctx = yield* RequestContext
        if (delivery.ruleId === null) return unsendable("rule deleted: no signing secret")
        const stored = yield* rules.secretOf(delivery.ruleId)
        if (Option.isNone(stored)) return unsendable("rule has no signing secret")
        const secret = yield* Effect.either(box.decrypt(stored.value, secretOwner(ctx.organizationId, delivery.ruleId)))
        if (secret._tag === "Left") return unsendable(secret.left.message)
        const payload = yield* Effect.either(decodePayload(delivery.payload))
        if (payload._tag === "Left") return unsendable("stored payload is invalid")
        return yield* sender.send({ url: delivery.url, secret: secret.right, payload: payload.right })
      })

    /** The `alerts.deliver` handler. */
    const deliver = (deliveryId: string) =>
      Effect.gen(function* () {
        const found = yield* repo.find(deliveryId)
        if (Option.isNone(found) || found.value.status !== "pending") {
          // a duplicate or stale job: the delivery moved on (or was deleted) since it was enqueued
          yield* Effect.logWarning("delivery not pending; attempt skipped", { deliveryId })
          return Option.none<DeliveryStatus>()
        }
        const delivery = found.value
        const attempt = delivery.attempts + 1
        const result = yield* attemptOnce(delivery)
        const delay =
          result.outcome === "retry"
            ? (yield* DeliveryBackoff).nextDelay(attempt, result.retryAfter)
            : Option.none<Duration.Duration>()
        const next: DeliveryStatus =
          result.outcome === "delivered"
            ? "delivered"
            : result.outcome === "final"
              ? "failed"
              : Option.isSome(delay)
                ? "pending"
                : "dead"
        const nowMs = yield* Clock.currentTimeMillis
        const nextAttemptAt = Option.match(delay, {
          onNone: () => null,
          onSome: (d) => new Date(nowMs + Duration.toMillis(d))
        })
        const recorded = yield* repo.recordAttempt(deliveryId, {
          attempt,
          statusCode: result.status,
          durationMs: Math.round(result.durationMs),
          error: result.error ?? null,
          next,
          nextAttemptAt
        })
        if (!recorded) return Option.none<DeliveryStatus>()
        yield* Effect.logInfo("webhook attempt", {
          deliveryId,
          attempt,
          status: result.status,
          outcome: result.outcome,
          next,
          durationMs: result.durationMs
        })
        if (Option.isSome(delay)) {
          yield* producer.enqueue(
            DeliverWebhook,
            { deliveryId, attempt: attempt + 1 },
            { jobId: deliveryJobId(deliveryId, attempt + 1), delay: Duration.toMillis(delay.value) }
          )
        }
        return Option.some(next)
      }).pipe(Effect.withSpan("Deliveries.deliver", { attributes: { deliveryId } }))

    /**
     * Admin replay of a `dead` or `failed` delivery: back to `pending` and one more attempt, enqueued under the
     * replaying request's context (its request id is on that attempt). Audited. Owner/admin is checked by the route.
     */
    const replay = (deliveryId: string) =>
      Effect.gen(function* () {
        const current = yield* repo.find(deliveryId)
        if (Option.isNone(current)) return yield* new DeliveryNotFound({ deliveryId })
        const attempts = yield* audit.audited(
          Effect.flatMap(repo.reopen(deliveryId), (reopened) =>
            Option.match(reopened, {
              onNone: () => Effect.fail(new NotReplayable({ status: current.value.status })),
              onSome: Effect.succeed
            })
          ),
          () => ({ action: "webhook_delivery.replay", target: { type: "webhook_delivery", id: deliveryId } })
        )
        yield* producer.enqueue(
          DeliverWebhook,
          { deliveryId, attempt: attempts + 1 },
          { jobId: deliveryJobId(deliveryId, attempts + 1) }
        )
      }).pipe(Effect.withSpan("Deliveries.replay", { attributes: { deliveryId } }))

    return { deliver, replay } as const
  }),
  dependencies: [DeliveriesRepo.Default, RulesRepo.Default, SecretBox.Default, AuditLog.Default]
}) {}
