/**
 * The handler layers of every group in `Api`, and the services they run on. An area adds its group's layer here
 * (README.md). The logs groups' layers are built here from the handlers src/Logs/LogsHttp.ts exports, until that
 * file exports the layers itself.
 */
import { HttpApiBuilder } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import { Ingest } from "../Logs/Ingest.js"
import { LogsConfig } from "../Logs/LogsConfig.js"
import { ingestHandler, otlpHandler, searchHandler, statsHandler, traceHandler } from "../Logs/LogsHttp.js"
import { ProjectScope } from "../Logs/ProjectScope.js"
import { LogsQuery } from "../Logs/Query.js"
import { Quota } from "../Logs/Quota.js"
import { ReadSql } from "../Logs/ReadSql.js"
import { Api } from "./Api.js"
import { HealthLive, type RedisPing } from "./HealthHttp.js"

const LogsIngestLive = HttpApiBuilder.group(Api, "logsIngest", (h) =>
  h
    .handleRaw("ingest", ingestHandler("batch"))
    .handleRaw("single", ingestHandler("single"))
    .handleRaw("otlp", otlpHandler)
)

const LogsSearchLive = HttpApiBuilder.group(Api, "logsSearch", (h) =>
  h.handle("search", searchHandler).handle("stats", statsHandler).handle("trace", traceHandler)
)

const LogsServices = Layer.mergeAll(Ingest.Default, LogsQuery.Default).pipe(
  Layer.provide(ProjectScope.Default),
  Layer.provide(ReadSql.fromDefault),
  Layer.provideMerge(Layer.mergeAll(Quota.Default, LogsConfig.Default))
)

export const GroupsLive = Layer.mergeAll(HealthLive, LogsIngestLive, LogsSearchLive).pipe(Layer.provide(LogsServices))

export type GroupsRequirements = SqlClient.SqlClient | RedisPing
