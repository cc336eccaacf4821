/**
 * PROVISIONAL: the logs groups mounted on a test Api whose authentication maps two fixed API keys (tl_key_a,
 * tl_key_b) to two projects. Used by test/Logs/Http.test.ts and bench/ingest.ts until src/Http's Api, Authentication
 * and server land; then both mount the real ones.
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
import { type ConfigError, Effect, Layer, Redacted, Schema } from "effect"
import { Ingest } from "../../src/Logs/Ingest.js"
import { LogsIngestApi, LogsSearchApi } from "../../src/Logs/LogsApi.js"
import { LogsConfig } from "../../src/Logs/LogsConfig.js"
import { ingestHandler, otlpHandler, searchHandler, statsHandler, traceHandler } from "../../src/Logs/LogsHttp.js"
import { ProjectScope } from "../../src/Logs/ProjectScope.js"
import { LogsQuery } from "../../src/Logs/Query.js"
import { Quota } from "../../src/Logs/Quota.js"
import { ReadSql } from "../../src/Logs/ReadSql.js"
import { type ApiKeyId, type OrganizationId, type ProjectId, RequestContext } from "../../src/RequestContext.js"

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
const KEYS: Record<string, string> = { tl_key_a: "a", tl_key_b: "b" }
const TestAuthLive = Layer.succeed(
  TestAuth,
  TestAuth.of({
    apiKey: (key) => {
      const tenant = KEYS[Redacted.value(key)]
      return tenant === undefined
        ? Effect.fail(new Unauthorized({ message: "bad key" }))
        : Effect.succeed(
            RequestContext.make({
              origin: "http",
              actor: { _tag: "apiKey", apiKeyId: `key_${tenant}` as ApiKeyId },
              organizationId: `org_${tenant}` as OrganizationId,
              projectId: `prj_${tenant}` as ProjectId
            })
          )
    }
  })
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
  db: Layer.Layer<SqlClient.SqlClient>,
  port: number
): Layer.Layer<HttpServer.HttpServer, ConfigError.ConfigError | ServeError> => {
  const Services = Layer.mergeAll(Ingest.Default, LogsQuery.Default).pipe(
    Layer.provide(ProjectScope.Default),
    Layer.provide(ReadSql.fromDefault),
    Layer.provideMerge(Layer.mergeAll(Quota.Default, LogsConfig.Default)),
    Layer.provide(db)
  )
  return HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.api(TestApi).pipe(Layer.provide([IngestLive, SearchLive]))),
    Layer.provide(TestAuthLive),
    Layer.provide(Services),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
}
