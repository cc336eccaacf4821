/**
 * The HTTP entry adapter as one layer: the Api with its groups and authentication, the error pipeline, the
 * documentation routes, served by our node wiring (NodeServer.ts) with security headers, CORS, limits, request
 * ids and the access log. The node server is closed by the layer's scope, so SIGTERM stops accepting and lets
 * in-flight requests end.
 *
 * Requirements are what other areas supply: Postgres (`SqlClient`), Redis (for readiness), and the tenancy
 * area's `Credentials` and `OrgDirectory` implementations.
 */
import { type HttpApi, HttpApiBuilder, HttpServer } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { Effect, Layer, LogLevel } from "effect"
import { AppConfig } from "../Config.js"
import type { QueueRedis } from "../Queue/Redis.js"
import * as AccessLog from "./AccessLog.js"
import * as ApiRoutes from "./ApiRoutes.js"
import { Api } from "./Api.js"
import { AuthenticationLive } from "./Auth.js"
import type { Credentials, OrgDirectory } from "./Credentials.js"
import { DocsLive, docsEnabled } from "./Docs.js"
import { GroupsLive, type GroupsRequirements } from "./Groups.js"
import { RedisPing } from "./HealthHttp.js"
import * as NodeServer from "./NodeServer.js"
import { OrgAccess } from "./OrgAccess.js"
import { securityOptions } from "./Security.js"

/** The HttpApi with every group, its authentication and OrgAccess; what a test server or the real one serves. */
export const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide(GroupsLive),
  Layer.provide(AuthenticationLive),
  Layer.provide(OrgAccess.Default)
)

export interface ServeOptions {
  readonly port: number
  readonly host: string
  /** Access log sink; default: batched stdout when the log level admits info lines. */
  readonly accessLog?: AccessLog.AccessLogSink | undefined
}

/**
 * Serves `api` (a layer of `HttpApi.Api`: ApiLive, or a test Api) with the error pipeline, the documentation
 * routes and our node wiring; used by HttpServerLive and by tests that need a random port.
 */
export const serveWith = <E, R>(api: Layer.Layer<HttpApi.Api, E, R>, options: ServeOptions) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const security = yield* securityOptions
      const docs = yield* docsEnabled
      const accessLog =
        options.accessLog ??
        (LogLevel.lessThanEqual(config.logLevel, LogLevel.Info) ? AccessLog.stdoutSink() : undefined)
      return ApiRoutes.serve.pipe(
        Layer.provide(DocsLive({ scalar: docs })),
        Layer.provide(api),
        HttpServer.withLogAddress,
        Layer.provideMerge(NodeServer.layer({ port: options.port, host: options.host, security, accessLog }))
      )
    })
  )

export const serve = (options: ServeOptions) => serveWith(ApiLive, options)

export const HttpServerLive: Layer.Layer<
  never,
  never,
  AppConfig | SqlClient.SqlClient | QueueRedis | Credentials | OrgDirectory | Exclude<GroupsRequirements, RedisPing>
> = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    serve({ port: config.port, host: config.host }).pipe(Layer.provide(RedisPing.fromQueueRedis), Layer.orDie)
  )
).pipe(Layer.discard)
