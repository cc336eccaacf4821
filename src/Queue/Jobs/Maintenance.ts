/**
 * The periodic maintenance run under its own system context: creates upcoming daily `logs` partitions and removes
 * data past each organization's retention (src/Logs/Retention.ts, through the audited storage bypass), and
 * purges invitations finished more than 30 days ago (accepted, revoked or expired; also an audited bypass).
 */
import { Effect, Schema } from "effect"
import { Retention } from "../../Logs/Retention.js"
import { RequestContext } from "../../RequestContext.js"
import { InvitationsRepo, PURGE_AFTER_DAYS } from "../../Sql/InvitationsRepo.js"
import * as Job from "../Job.js"
import * as Scheduler from "../Scheduler.js"

export const MaintenanceTick = Job.define({
  name: "maintenance.tick",
  payload: Schema.Struct({}),
  attempts: 3,
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 1_000 }
})

export const maintenanceTick = () =>
  Effect.gen(function* () {
    const ctx = yield* RequestContext
    yield* Effect.logInfo("maintenance tick", { reason: ctx.actor._tag === "system" ? ctx.actor.reason : "" })
    yield* (yield* Retention).run()
    const purged = yield* (yield* InvitationsRepo).purgeFinished(PURGE_AFTER_DAYS)
    if (purged > 0) yield* Effect.logInfo("finished invitations purged", { count: purged })
  })

export const MaintenanceSchedule = Scheduler.schedule({
  id: "maintenance.tick",
  job: MaintenanceTick,
  payload: {},
  reason: "periodic maintenance",
  repeat: { every: 10 * 60_000 }
})
