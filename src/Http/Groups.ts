/**
 * The handler layers of every group in `Api`, and the services they run on. An area adds its group's layer here
 * (README.md). The logs groups' layers are built here from the handlers src/Logs/LogsHttp.ts exports, until that
 * file exports the layers itself.
 */
import { HttpApiBuilder } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import * as Alerts from "../Alerts/AlertsHttp.js"
import { AlertsLive } from "../Alerts/AlertsLive.js"
import { EventsRepo } from "../Alerts/EventsRepo.js"
import { listAudit } from "../Audit/AuditHttp.js"
import { Ingest } from "../Logs/Ingest.js"
import type { LimitsLive } from "../Limits/LimitsLive.js"
import * as Limits from "../Limits/LimitsHttp.js"
import { LogsConfig } from "../Logs/LogsConfig.js"
import { ingestHandler, otlpHandler, searchHandler, statsHandler, traceHandler } from "../Logs/LogsHttp.js"
import { aggregatedHandler, contextHandler, entryHandler, servicesHandler } from "../Logs/LogsHttp.js"
import { ProjectScope } from "../Logs/ProjectScope.js"
import { LogsQuery } from "../Logs/Query.js"
import { LogsRead } from "../Logs/Read.js"
import { Producer } from "../Queue/Producer.js"
import type { ReadSql } from "../Sql/Client.js"
import * as Account from "../Tenancy/AccountHttp.js"
import * as TenancyAuth from "../Tenancy/AuthHttp.js"
import * as Invitations from "../Tenancy/InvitationsHttp.js"
import * as Orgs from "../Tenancy/OrgsHttp.js"
import type { TenancyLive } from "../Tenancy/TenancyLive.js"
import { Api } from "./Api.js"
import { HealthLive, type RedisPing } from "./HealthHttp.js"

const LogsIngestLive = HttpApiBuilder.group(Api, "logsIngest", (h) =>
  h
    .handleRaw("ingest", ingestHandler("batch"))
    .handleRaw("single", ingestHandler("single"))
    .handleRaw("otlp", otlpHandler)
)

const LogsSearchLive = HttpApiBuilder.group(Api, "logsSearch", (h) =>
  h
    .handle("search", searchHandler)
    .handle("stats", statsHandler)
    .handle("trace", traceHandler)
    .handle("aggregated", aggregatedHandler)
    .handle("context", contextHandler)
    .handle("services", servicesHandler)
    .handle("entry", entryHandler)
)

// LogsRead runs on the same LogsQuery (one search gate per organization for every read route)
const LogsServices = Layer.mergeAll(Ingest.Default, LogsRead.Default.pipe(Layer.provideMerge(LogsQuery.Default))).pipe(
  Layer.provide(ProjectScope.Default),
  // the logs Quota comes from the process (main.ts provides the limits area's); it is required, never defaulted
  Layer.provideMerge(LogsConfig.Default)
)

const AuthLive = HttpApiBuilder.group(Api, "auth", (h) =>
  h.handle("register", TenancyAuth.register).handle("login", TenancyAuth.login)
)

const AccountLive = HttpApiBuilder.group(Api, "account", (h) =>
  h
    .handle("logout", Account.logout)
    .handle("logoutAll", Account.logoutAll)
    .handle("me", Account.me)
    .handle("createOrg", Account.createOrg)
    .handle("listOrgs", Account.listOrgs)
    .handle("acceptInvitation", Invitations.acceptInvitation)
)

const OrgsLive = HttpApiBuilder.group(Api, "orgs", (h) =>
  h
    .handle("getOrg", Orgs.getOrg)
    .handle("listMembers", Orgs.listMembers)
    .handle("listInvitations", Invitations.listInvitations)
    .handle("createInvitation", Invitations.createInvitation)
    .handle("revokeInvitation", Invitations.revokeInvitation)
    .handle("removeMember", Orgs.removeMember)
    .handle("listProjects", Orgs.listProjects)
    .handle("createProject", Orgs.createProject)
    .handle("getProject", Orgs.getProject)
    .handle("deleteProject", Orgs.deleteProject)
    .handle("listKeys", Orgs.listKeys)
    .handle("createKey", Orgs.createKey)
    .handle("revokeKey", Orgs.revokeKey)
)

const AlertsGroupLive = HttpApiBuilder.group(Api, "alerts", (h) =>
  h
    .handle("listRules", Alerts.listRules)
    .handle("createRule", Alerts.createRule)
    .handle("getRule", Alerts.getRule)
    .handle("updateRule", Alerts.updateRule)
    .handle("deleteRule", Alerts.deleteRule)
    .handle("listEvents", Alerts.listEvents)
    .handle("listDeliveries", Alerts.listDeliveries)
    .handle("replayDelivery", Alerts.replayDelivery)
)

const AuditGroupLive = HttpApiBuilder.group(Api, "audit", (h) => h.handle("listAudit", listAudit))

const LimitsGroupLive = HttpApiBuilder.group(Api, "limits", (h) =>
  h.handle("getLimits", Limits.getLimits).handle("putLimits", Limits.putLimits)
)

/**
 * Rules, replay and the events/deliveries read side. Producer.Default (with its QueueRedis.Default and
 * Envelope.Default) is the same layer reference main.ts builds its queue from, so one process shares one instance;
 * providing it here keeps the groups' requirements to storage + config, which test servers already supply.
 */
const AlertsServices = Layer.merge(AlertsLive, EventsRepo.Default).pipe(Layer.provide(Producer.Default))

export const GroupsLive = Layer.mergeAll(
  HealthLive,
  LogsIngestLive,
  LogsSearchLive,
  AuthLive,
  AccountLive,
  OrgsLive,
  AlertsGroupLive,
  AuditGroupLive,
  LimitsGroupLive
).pipe(Layer.provide(LogsServices), Layer.provide(AlertsServices))

/**
 * What the groups run on, provided once at the edge (main.ts): storage, Redis ping, the tenancy services and the
 * limits area (whose layer also provides the logs Quota and the rate-limit step the groups pick up).
 */
export type GroupsRequirements =
  | SqlClient.SqlClient
  | ReadSql
  | RedisPing
  | Layer.Layer.Success<typeof TenancyLive>
  | Layer.Layer.Success<typeof LimitsLive>
