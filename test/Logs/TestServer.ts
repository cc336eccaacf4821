/**
 * The logs groups served over real HTTP on a per-file migrated database. Authentication is the one part that is
 * not the application's: a minimal middleware resolving `X-API-Key` through the real pre-tenant lookup
 * (ApiKeysRepo.findActiveByHash over the api_keys table), because the application's Authentication needs the
 * tenancy area's Credentials. Everything behind it (handlers, services, RLS, tenant transactions) is the real code.
 */
import { createServer } from "node:http"
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  type HttpServer
} from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { type ConfigError, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Ingest } from "../../src/Logs/Ingest.js"
import { LogsIngestApi, LogsSearchApi } from "../../src/Logs/LogsApi.js"
import { LogsConfig } from "../../src/Logs/LogsConfig.js"
import { ingestHandler, otlpHandler, searchHandler, statsHandler, traceHandler } from "../../src/Logs/LogsHttp.js"
import { ProjectScope } from "../../src/Logs/ProjectScope.js"
import { LogsQuery } from "../../src/Logs/Query.js"
import { Quota } from "../../src/Logs/Quota.js"
import { RequestContext } from "../../src/RequestContext.js"
import { ApiKeysRepo } from "../../src/Sql/ApiKeysRepo.js"
import type { ReadSql } from "../../src/Sql/Client.js"
import { keyHash } from "./Fixtures.js"

class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}
class TestAuth extends HttpApiMiddleware.Tag<TestAuth>()("TestAuth", {
  failure: Unauthorized,
  provides: RequestContext,
  security: { apiKey: HttpApiSecurity.apiKey({ key: "X-API-Key", in: "header" }) }
}) {}
const TestAuthLive = Layer.effect(
  TestAuth,
  Effect.map(ApiKeysRepo, (keys) =>
    TestAuth.of({
      apiKey: (secret) =>
        keys.findActiveByHash(keyHash(Redacted.value(secret))).pipe(
          Effect.orDie,
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.fail(new Unauthorized({ message: "invalid API key" })),
              onSome: (key) =>
                Effect.succeed(
                  RequestContext.make({
                    origin: "http",
                    actor: { _tag: "apiKey", apiKeyId: key.id },
                    organizationId: key.organizationId,
                    projectId: key.projectId
                  })
                )
            })
          )
        )
    })
  )
)
class TestApi extends HttpApi.make("test")
  .add(LogsIngestApi.middleware(TestAuth))
  .add(LogsSearchApi.middleware(TestAuth)) {}

const IngestLive = HttpApiBuilder.group(TestApi, "logsIngest", (h) =>
  h
    .handleRaw("ingest", ingestHandler("batch"))
    .handleRaw("single", ingestHandler("single"))
    .handleRaw("otlp", otlpHandler)
)
const SearchLive = HttpApiBuilder.group(TestApi, "logsSearch", (h) =>
  h.handle("search", searchHandler).handle("stats", statsHandler).handle("trace", traceHandler)
)

/** The logs endpoints served on `port` (0: any free port) over the database `db`. */
export const testServerLayer = (
  db: Layer.Layer<SqlClient.SqlClient | ReadSql>,
  port: number
): Layer.Layer<HttpServer.HttpServer, ConfigError.ConfigError | ServeError> => {
  const Services = Layer.mergeAll(Ingest.Default, LogsQuery.Default).pipe(
    Layer.provide(ProjectScope.Default),
    Layer.provideMerge(Layer.mergeAll(Quota.Default, LogsConfig.Default)),
    Layer.provide(db)
  )
  return HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.api(TestApi).pipe(Layer.provide([IngestLive, SearchLive]))),
    Layer.provide(TestAuthLive.pipe(Layer.provide(ApiKeysRepo.Default), Layer.provide(db))),
    Layer.provide(Services),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
}
