/**
 * The registry of jobs this application runs. To add a job: define it (Job.define), register its handler in
 * `consumers`, and, for periodic system work, its schedule in `schedules`. The `worker` role runs every consumer,
 * the `scheduler` role upserts every schedule (src/main.ts).
 */
import { Effect, Layer } from "effect"
import { alertsTickSchedule, deliverySweepSchedule } from "../Alerts/AlertJobs.js"
import { alertConsumers } from "../Alerts/AlertsLive.js"
import { AppConfig } from "../Config.js"
import * as Consumer from "./Consumer.js"
import { MaintenanceSchedule, MaintenanceTick, maintenanceTick } from "./Jobs/Maintenance.js"
import { Probe, probe } from "./Jobs/Probe.js"
import * as Scheduler from "./Scheduler.js"

const consumers = [
  Consumer.layer(MaintenanceTick, maintenanceTick),
  Consumer.layer(Probe, probe),
  ...alertConsumers
] as const

/** Every schedule; the alert tick period comes from AppConfig (`alertTickSeconds`). */
const schedules = (config: Pick<AppConfig, "alertTickSeconds">): ReadonlyArray<Scheduler.Schedule> => [
  MaintenanceSchedule,
  alertsTickSchedule(config.alertTickSeconds),
  deliverySweepSchedule()
]

/** The `worker` role. Merged layers close in parallel, so every worker drains within the same shutdown bound. */
export const WorkersLive = Layer.mergeAll(...consumers)

/** The `scheduler` role. */
export const SchedulerLive = Layer.unwrapEffect(Effect.map(AppConfig, (config) => Scheduler.layer(schedules(config))))
