/**
 * The alert jobs. `alerts.tick` (scheduled, system context) fans out one `alerts.evaluate` per enabled rule, each
 * under a context for that rule's organization and project; an evaluation that triggers enqueues `alerts.deliver`.
 *
 * `alerts.deliver` has ONE BullMQ attempt: the delivery job records every attempt and enqueues the next one itself,
 * with the webhook backoff (Backoff.ts, honouring Retry-After) and job id `<deliveryId>-<attempt>`, so a retry is
 * exactly one job and never a BullMQ retry with BullMQ's own timing. (BullMQ refuses custom ids with one `:`, hence
 * `-` as the separator.)
 *
 * `alerts.sweep-deliveries` (scheduled, system context) re-enqueues deliveries left `pending` without a live job
 * (Sweep.ts): the row commits before its job is added, so a Redis failure in between would strand it.
 */
import { Schema } from "effect"
import * as Job from "../Queue/Job.js"
import * as Scheduler from "../Queue/Scheduler.js"

export const EvaluateAlert = Job.define({
  name: "alerts.evaluate",
  payload: Schema.Struct({ ruleId: Schema.String, windowStart: Schema.Number }),
  attempts: 3,
  backoff: { type: "exponential", delay: 2_000 }
})

export const DeliverWebhook = Job.define({
  name: "alerts.deliver",
  payload: Schema.Struct({ deliveryId: Schema.String, attempt: Schema.Int }),
  attempts: 1
})

export const AlertsTick = Job.define({
  name: "alerts.tick",
  payload: Schema.Struct({}),
  attempts: 3,
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 1_000 }
})

const TICK_REASON = "alert-tick"

/** The tick schedule; `THREADLINE_ALERT_TICK_SECONDS` (default 60) is read by whoever builds the schedule list. */
export const alertsTickSchedule = (tickSeconds = 60): Scheduler.Schedule =>
  Scheduler.schedule({
    id: "alerts.tick",
    job: AlertsTick,
    payload: {},
    reason: TICK_REASON,
    repeat: { every: tickSeconds * 1000 }
  })

/** Dedupe key of one evaluation: at most one per rule and window bucket. */
export const evaluationJobId = (ruleId: string, windowStart: number): string => `${ruleId}-${windowStart}`
export const deliveryJobId = (deliveryId: string, attempt: number): string => `${deliveryId}-${attempt}`

export const SweepDeliveries = Job.define({
  name: "alerts.sweep-deliveries",
  /** Only deliveries due for longer than this are looked at: a younger one may simply not have been picked up yet. */
  payload: Schema.Struct({ olderThanSeconds: Schema.Int.pipe(Schema.nonNegative()) }),
  // a failed run is not retried: the next run, one period later, does the same work
  attempts: 1,
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 1_000 }
})

export const SWEEP_REASON = "webhook-delivery-sweep"

/** Every two minutes, deliveries due for more than two minutes (both shorter in tests). */
export const deliverySweepSchedule = (
  options: { readonly everyMs?: number; readonly olderThanSeconds?: number } = {}
) =>
  Scheduler.schedule({
    id: "alerts.sweep-deliveries",
    job: SweepDeliveries,
    payload: { olderThanSeconds: options.olderThanSeconds ?? 120 },
    reason: SWEEP_REASON,
    repeat: { every: options.everyMs ?? 120_000 }
  })
