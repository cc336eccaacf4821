/**
 * The sweep for deliveries stranded in `pending`. A delivery's row commits before its job is added (so the job
 * always finds its row); if Redis fails in between, or the job's run dies before recording its attempt, the row
 * stays `pending` with no job that will ever run it. The scheduled sweep (its own system context per run) lists,
 * through the audited cross-tenant bypass, pending deliveries due for longer than a bound, and for each one whose
 * next attempt has no live BullMQ job re-enqueues that attempt under a context for the delivery's organization and
 * project, keeping the request id the delivery was created under (the alert event's), so the receiver and the logs
 * still lead back to the evaluation.
 *
 * No duplicate job: the job id is the attempt's usual `<deliveryId>-<attempt>`, so a live job with it is left alone
 * and an add racing the original producer is deduplicated by BullMQ; the row is read again after the job state, so
 * a stale scan never re-adds an attempt that has run; and an attempt is recorded under the guard
 * `status = 'pending' AND attempts = n` (DeliveriesRepo), so a late duplicate records nothing. Delivery stays
 * at-least-once: a run that died after its request was sent and before recording it is sent again (receivers
 * deduplicate by the event id, WebhookPayload.ts).
 */
import { SqlClient } from "@effect/sql"
import { Queue } from "bullmq"
import { Duration, Effect, Option, Runtime } from "effect"
import { Producer } from "../Queue/Producer.js"
import { QueueRedis } from "../Queue/Redis.js"
import { type OrganizationId, type ProjectId, RequestContext, RequestId } from "../RequestContext.js"
import { Tenant } from "../Sql/Tenant.js"
import { deliveryJobId, DeliverWebhook, SWEEP_REASON } from "./AlertJobs.js"
import { DeliveriesRepo } from "./DeliveriesRepo.js"

export const SWEEP_BYPASS_REASON = "webhook-sweep"

/** At most this many deliveries per run; the next run takes the rest. */
const BATCH = 500

/** BullMQ states in which a job will still run (or is running). */
const LIVE = new Set<string>(["waiting", "delayed", "active", "prioritized", "waiting-children"])

interface Stranded {
  readonly id: string
  readonly organizationId: OrganizationId
  readonly projectId: ProjectId | null
  readonly attempts: number
  readonly requestId: string | null
}

/** `settled`: the delivery moved on between the scan and the check (its job ran); nothing to do. */
export type SweepOutcome = "requeued" | "live" | "settled" | "error"

export interface SweptDelivery {
  readonly deliveryId: string
  readonly outcome: SweepOutcome
}

/** The context the re-enqueued attempt runs under: the delivery's tenant and, when stored, its request id. */
const contextFor = (d: Stranded) =>
  RequestContext.make({
    origin: "system",
    actor: { _tag: "system", reason: SWEEP_REASON },
    organizationId: d.organizationId,
    projectId: d.projectId,
    ...Option.match(RequestId.parse(d.requestId), { onNone: () => ({}), onSome: (requestId) => ({ requestId }) })
  })

export class DeliverySweep extends Effect.Service<DeliverySweep>()("Alerts/DeliverySweep", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const producer = yield* Producer
    const repo = yield* DeliveriesRepo
    const redis = yield* QueueRedis
    const runtime = yield* Effect.runtime<never>()
    // Read-only use of the delivery queue (job states, removing a finished job); adds go through the Producer.
    const queue = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const q = new Queue(DeliverWebhook.name, { connection: redis.producer, prefix: redis.prefix })
        q.on("error", (error) =>
          Runtime.runFork(runtime)(Effect.logError("queue error", { queue: DeliverWebhook.name, error }))
        )
        return q
      }),
      (q) => Effect.promise(() => q.close())
    )

    const stranded = (olderThan: Duration.Duration) =>
      Tenant.bypass(
        SWEEP_BYPASS_REASON,
        sql<Stranded>`SELECT id, organization_id, project_id, attempts, request_id FROM webhook_deliveries
          WHERE status = 'pending'
            AND next_attempt_at <= now() - ${Duration.toMillis(olderThan)} * interval '1 millisecond'
          ORDER BY next_attempt_at LIMIT ${BATCH}`
      ).pipe(Effect.orDie, Effect.provideService(SqlClient.SqlClient, sql))

    const requeue = (d: Stranded) =>
      Effect.gen(function* () {
        const attempt = d.attempts + 1
        const jobId = deliveryJobId(d.id, attempt)
        const state = yield* Effect.tryPromise(() => queue.getJobState(jobId))
        if (LIVE.has(state)) return "live" as const
        return yield* Effect.gen(function* () {
          // The scan may be stale: the attempt's job may have run (and finished) since. Read the row again, after
          // the job state: still pending at the same count means no job of this attempt will record it.
          const now = yield* repo.find(d.id)
          if (Option.isNone(now) || now.value.status !== "pending" || now.value.attempts !== d.attempts) {
            return "settled" as const
          }
          // A finished job under this id (its run failed before recording the attempt) would turn the add into a
          // no-op: remove it first. Finished jobs are not running, so nothing is cut short.
          if (state !== "unknown") yield* Effect.tryPromise(() => queue.remove(jobId))
          yield* producer.enqueue(DeliverWebhook, { deliveryId: d.id, attempt }, { jobId })
          yield* Effect.logWarning("stranded webhook delivery re-enqueued", { deliveryId: d.id, attempt, was: state })
          return "requeued" as const
        }).pipe(RequestContext.withContext(contextFor(d)))
      }).pipe(
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logError("webhook sweep could not re-enqueue", { deliveryId: d.id, error }),
            "error" as const
          )
        )
      )

    /** One sweep under the caller's system context (the bypass refuses any other). */
    const run = (olderThan: Duration.Duration) =>
      Effect.gen(function* () {
        const found = yield* stranded(olderThan)
        const outcomes = yield* Effect.forEach(
          found,
          (d) => Effect.map(requeue(d), (outcome): SweptDelivery => ({ deliveryId: d.id, outcome })),
          { concurrency: 4 }
        )
        const count = (o: SweepOutcome) => outcomes.filter((x) => x.outcome === o).length
        yield* Effect.logInfo("webhook sweep", {
          pending: found.length,
          requeued: count("requeued"),
          live: count("live"),
          settled: count("settled"),
          errors: count("error")
        })
        return outcomes
      }).pipe(Effect.withSpan("DeliverySweep.run"))

    return { run } as const
  }),
  dependencies: [DeliveriesRepo.Default]
}) {}
