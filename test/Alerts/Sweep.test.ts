/**
 * The sweep for deliveries stranded in `pending`, on real Postgres and Redis with a loopback receiver. A stranded
 * delivery is made exactly as the failure makes it: the evaluation's transaction (DeliveriesRepo.trigger) commits
 * and no job is added.
 */
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { deliveryJobId, DeliverWebhook, deliverySweepSchedule, SweepDeliveries } from "../../src/Alerts/AlertJobs.js"
import { handlers } from "../../src/Alerts/AlertsLive.js"
import { makeDeliveryId } from "../../src/Alerts/AlertRule.js"
import { DeliveriesRepo } from "../../src/Alerts/DeliveriesRepo.js"
import { Rules } from "../../src/Alerts/Rules.js"
import { DeliverySweep, SWEEP_BYPASS_REASON } from "../../src/Alerts/Sweep.js"
import { makeEventId, toBody } from "../../src/Alerts/WebhookPayload.js"
import * as Consumer from "../../src/Queue/Consumer.js"
import { Producer } from "../../src/Queue/Producer.js"
import * as Scheduler from "../../src/Queue/Scheduler.js"
import { RequestContext } from "../../src/RequestContext.js"
import { asOwner } from "../support/Database.js"
import { cleanup, eventually, type Line, rawQueue, uniquePrefix } from "../Queue/Support.js"
import { alertsLayer, receiver, seedTenant, startWorkers } from "./Support.js"

const prefix = uniquePrefix("alerts-sweep")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const testLayer = Layer.mergeAll(DeliverySweep.Default, DeliveriesRepo.Default).pipe(
  Layer.provideMerge(alertsLayer("alerts-sweep", prefix, lines))
)

/** A committed pending delivery (event and all) to `<base><path>` whose job was never added. */
const stranded = (name: string, path: string, base: string) =>
  Effect.gen(function* () {
    const t = yield* seedTenant(name)
    const { rule } = yield* (yield* Rules)
      .create({
        name: `sweep ${name}`,
        projectId: t.project,
        level: ["error"],
        threshold: 1,
        windowMinutes: 5,
        webhookUrl: `${base}${path}`,
        webhookSecret: "whsec_sweep_tests_0123456789"
      })
      .pipe(RequestContext.withContext(t.userCtx))
    const ctx = RequestContext.system("alert-evaluation", { organizationId: t.org, projectId: t.project })
    const to = new Date()
    const from = new Date(to.getTime() - 5 * 60_000)
    const event = { id: makeEventId(), ruleId: rule.id, ruleName: rule.name, count: 1, threshold: 1, windowMinutes: 5 }
    const body = toBody({
      id: event.id,
      type: "alert.triggered",
      version: 1,
      occurredAt: to,
      organizationId: t.org,
      projectId: t.project,
      data: { ruleId: rule.id, ruleName: rule.name, count: 1, threshold: 1, windowMinutes: 5, from, to }
    })
    const deliveryId = makeDeliveryId()
    yield* (yield* DeliveriesRepo)
      .trigger({ ...event, from, to }, deliveryId, `${base}${path}`, body)
      .pipe(RequestContext.withContext(ctx))
    return { t, ctx, deliveryId }
  })

const statusOf = (deliveryId: string) =>
  Effect.map(
    asOwner((c) =>
      c.query<{ status: string; attempts: number }>("SELECT status, attempts FROM webhook_deliveries WHERE id = $1", [
        deliveryId
      ])
    ),
    (r) => r.rows[0]
  )

const sweepOnce = (olderThan: Duration.DurationInput) =>
  Effect.flatMap(DeliverySweep, (s) => s.run(Duration.decode(olderThan))).pipe(
    RequestContext.withContext(RequestContext.system("sweep-test"))
  )

const outcomeOf = (outcomes: ReadonlyArray<{ deliveryId: string; outcome: string }>, deliveryId: string) =>
  outcomes.filter((o) => o.deliveryId === deliveryId).map((o) => o.outcome)

describe("Stranded delivery sweep", () => {
  layer(testLayer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("a delivery whose job is live is left to it: the receiver gets exactly one request", () =>
      Effect.gen(function* () {
        const hook = yield* receiver
        yield* startWorkers
        const { ctx, deliveryId } = yield* stranded("live", "/live", hook.base)
        // the evaluator's enqueue, held back (a backlog), so the job is still waiting while the sweep looks
        yield* (yield* Producer)
          .enqueue(DeliverWebhook, { deliveryId, attempt: 1 }, { jobId: deliveryJobId(deliveryId, 1), delay: 1_500 })
          .pipe(RequestContext.withContext(ctx))
        for (let i = 0; i < 3; i++) expect(outcomeOf(yield* sweepOnce(0), deliveryId)).toEqual(["live"])
        yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "delivered"))
        // a second job, had the sweep added one, would come right after
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 500)))
        expect(hook.received.filter((r) => r.path === "/live")).toHaveLength(1)
        expect(yield* statusOf(deliveryId)).toEqual({ status: "delivered", attempts: 1 })
        expect(outcomeOf(yield* sweepOnce(0), deliveryId)).toEqual([])
      }).pipe(Effect.scoped)
    )

    it.effect("a job that failed before recording its attempt is replaced once, then delivered", () =>
      Effect.gen(function* () {
        const hook = yield* receiver
        yield* startWorkers
        const { ctx, deliveryId } = yield* stranded("failedjob", "/failedjob", hook.base)
        // a job under the attempt's id that dies without recording anything (no signed context: rejected)
        const queue = yield* rawQueue(DeliverWebhook.name)
        const jobId = deliveryJobId(deliveryId, 1)
        yield* Effect.promise(() => queue.add(DeliverWebhook.name, { deliveryId, attempt: 1 }, { jobId, attempts: 1 }))
        yield* eventually(Effect.promise(() => queue.getJobState(jobId).then((s) => s === "failed")))
        expect(yield* statusOf(deliveryId)).toEqual({ status: "pending", attempts: 0 })

        expect(outcomeOf(yield* sweepOnce(0), deliveryId)).toEqual(["requeued"])
        yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "delivered"))
        const got = hook.received.filter((r) => r.path === "/failedjob")
        expect(got).toHaveLength(1)
        expect(got[0]!.headers["x-request-id"]).toBe(ctx.requestId)
      }).pipe(Effect.scoped)
    )

    it.effect("the scheduled sweep delivers a stranded delivery once it is past the bound, under its request id", () =>
      Effect.gen(function* () {
        const hook = yield* receiver
        yield* startWorkers
        yield* Consumer.make(SweepDeliveries, handlers.sweep)
        const { t, ctx, deliveryId } = yield* stranded("stranded", "/stranded", hook.base)
        yield* Layer.build(Scheduler.layer([deliverySweepSchedule({ everyMs: 300, olderThanSeconds: 60 })]))

        // younger than the bound: several runs leave it alone
        const runs = () => lines.filter((l) => l.msg === "webhook sweep").length
        const before = runs()
        yield* eventually(Effect.sync(() => runs() >= before + 3))
        expect(hook.received.filter((r) => r.path === "/stranded")).toHaveLength(0)
        expect(yield* statusOf(deliveryId)).toEqual({ status: "pending", attempts: 0 })

        // due for longer than the bound (what a Redis outage right after the commit leaves behind)
        yield* asOwner((c) =>
          c.query("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '5 minutes' WHERE id = $1", [
            deliveryId
          ])
        )
        yield* eventually(Effect.map(statusOf(deliveryId), (d) => d?.status === "delivered"))
        // later runs find nothing to do for it: still one request
        const delivered = runs()
        yield* eventually(Effect.sync(() => runs() >= delivered + 2))
        yield* Scheduler.remove(SweepDeliveries.name, "alerts.sweep-deliveries")

        const got = hook.received.filter((r) => r.path === "/stranded")
        expect(got).toHaveLength(1)
        expect(got[0]!.headers["x-request-id"]).toBe(ctx.requestId)
        const requeued = lines.filter((l) => l.msg === "stranded webhook delivery re-enqueued")
        expect(requeued.filter((l) => l.deliveryId === deliveryId)).toHaveLength(1)
        // logged under the delivery's own context, from the sweep job (a system run of its own)
        expect(requeued.find((l) => l.deliveryId === deliveryId)).toMatchObject({
          job: SweepDeliveries.name,
          requestId: ctx.requestId,
          organizationId: t.org
        })
        const rows = yield* asOwner((c) =>
          c.query<{ request_id: string; status_code: number }>(
            "SELECT request_id, status_code FROM webhook_attempts WHERE delivery_id = $1",
            [deliveryId]
          )
        )
        expect(rows.rows).toEqual([{ request_id: ctx.requestId, status_code: 200 }])
        // the cross-tenant scan went through the audited bypass, as system work
        const audit = yield* asOwner((c) =>
          c.query<{ actor_type: string }>(
            "SELECT actor_type FROM audit_log WHERE action = 'tenant.bypass' AND target_id = $1",
            [SWEEP_BYPASS_REASON]
          )
        )
        expect(audit.rowCount).toBeGreaterThanOrEqual(3)
        expect(new Set(audit.rows.map((r) => r.actor_type))).toEqual(new Set(["system"]))
      }).pipe(Effect.scoped)
    )
  })
})
