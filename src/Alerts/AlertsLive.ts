/**
 * Wiring for the alert services and their job consumers. `AlertsLive` gives the API its `Rules`, `Deliveries`
 * (replay) and `AlertEvaluator`; `alertConsumers` are the workers to add to `consumers` in src/Queue/Jobs.ts (the
 * sweep's carries its own `DeliverySweep`, which only the worker role needs).
 */
import { Duration, Effect, Layer } from "effect"
import { Outbound } from "../Http/Outbound.js"
import * as Consumer from "../Queue/Consumer.js"
import { AlertsTick, DeliverWebhook, EvaluateAlert, SweepDeliveries } from "./AlertJobs.js"
import { Deliveries } from "./Deliver.js"
import { AlertEvaluator } from "./Evaluate.js"
import { Rules } from "./Rules.js"
import { DeliverySweep } from "./Sweep.js"
import { WebhookSender } from "./WebhookSender.js"

/** Needs SqlClient, ReadSql, Producer and AppConfig; builds the one Outbound client all of them share. */
export const AlertsLive = Layer.mergeAll(AlertEvaluator.Default, Deliveries.Default, Rules.Default).pipe(
  Layer.provide(WebhookSender.DefaultWithoutDependencies),
  Layer.provide(Outbound.layer)
)

/** The job handlers (the consumers below; tests start workers with them directly). */
export const handlers = {
  tick: () => Effect.flatMap(AlertEvaluator, (e) => e.tick),
  evaluate: ({ ruleId }: { readonly ruleId: string }) => Effect.flatMap(AlertEvaluator, (e) => e.evaluate(ruleId)),
  deliver: ({ deliveryId }: { readonly deliveryId: string }) =>
    Effect.flatMap(Deliveries, (d) => d.deliver(deliveryId)),
  sweep: ({ olderThanSeconds }: { readonly olderThanSeconds: number }) =>
    Effect.flatMap(DeliverySweep, (s) => s.run(Duration.seconds(olderThanSeconds)))
} as const

export const alertConsumers = [
  Consumer.layer(AlertsTick, handlers.tick),
  Consumer.layer(EvaluateAlert, handlers.evaluate),
  Consumer.layer(DeliverWebhook, handlers.deliver),
  Consumer.layer(SweepDeliveries, handlers.sweep).pipe(Layer.provide(DeliverySweep.Default))
] as const
