/**
 * The HTTP stack as the application serves it (serveWith: our node wiring, error pipeline, docs, security), on a
 * random port, over TestApi (the real groups plus ProbeApi), a per-file migrated database and the test credentials. The
 * access log goes to memory so tests can compare its lines with the responses.
 */
import { createServer } from "node:http"
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { ConfigProvider, Effect, Layer } from "effect"
import { Redis } from "ioredis"
import * as AccessLog from "../../../src/Http/AccessLog.js"
import { AuthenticationLive } from "../../../src/Http/Auth.js"
import * as ErrorPipeline from "../../../src/Http/ErrorPipeline.js"
import { GroupsLive } from "../../../src/Http/Groups.js"
import { RedisPing } from "../../../src/Http/HealthHttp.js"
import { OrgAccess } from "../../../src/Http/OrgAccess.js"
import { ApiLive, serveWith } from "../../../src/Http/Server.js"
import { AppConfig } from "../../../src/Config.js"
import { QueueRedis } from "../../../src/Queue/Redis.js"
import { ReadSql } from "../../../src/Sql/Client.js"
import { ApiKeyCache } from "../../../src/Tenancy/ApiKeyCache.js"
import { BruteForce } from "../../../src/Tenancy/BruteForce.js"
import { TenancyReposLive } from "../../../src/Tenancy/TenancyLive.js"
import { ProbeLive, TestApi } from "./ProbeApi.js"
import { TestCredentialsLive } from "./TestCredentials.js"
import { limitsConfig, TestLimitsLive } from "../../support/Limits.js"
import { TestDatabase } from "../../support/Database.js"

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6390"
export const ALLOWED_ORIGIN = "https://app.example.com"

export const TestApiLive = HttpApiBuilder.api(TestApi).pipe(
  Layer.provide(ProbeLive),
  Layer.provide(GroupsLive),
  Layer.provide(AuthenticationLive),
  Layer.provide(OrgAccess.Default)
)

/** A real client on a port where nothing listens: PING fails at once. */
const redisDown = Layer.scoped(
  RedisPing,
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis("redis://127.0.0.1:1", {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          enableOfflineQueue: false,
          retryStrategy: () => null
        })
        client.on("error", () => {})
        return client
      }),
      (client) => Effect.sync(() => client.disconnect())
    ),
    (client) => Effect.tryPromise(() => client.ping()).pipe(Effect.asVoid)
  )
)

export interface TestServerOptions {
  readonly label: string
  readonly config?: Record<string, string>
  readonly redis?: "up" | "down"
  /** Serve the application's Api (ApiLive) instead of TestApi. */
  readonly realApi?: boolean
  /** Default: lines kept in memory (`accessLog.lines`). */
  readonly accessLog?: AccessLog.AccessLogSink
  /**
   * Serve through the platform's own wiring (`HttpApiBuilder.serve` on `NodeHttpServer`, error pipeline only,
   * no access log or security headers): the baseline bench/http.ts compares with.
   */
  readonly platformWiring?: boolean
  /** A logger for everything the server runs (e.g. a capture of its lines). */
  readonly logger?: Layer.Layer<never>
}

export const testServer = (options: TestServerOptions) => {
  const accessLog = AccessLog.memorySink()
  const provider = ConfigProvider.fromMap(
    new Map(
      Object.entries({
        THREADLINE_ENV: "test",
        REDIS_URL,
        THREADLINE_CORS_ORIGINS: ALLOWED_ORIGIN,
        ...limitsConfig(options.label),
        ...options.config
      })
    )
  )
  const redis = options.redis === "down" ? redisDown : RedisPing.fromQueueRedis.pipe(Layer.provide(QueueRedis.Default))
  const api = options.realApi === true ? ApiLive : TestApiLive
  const served =
    options.platformWiring === true
      ? HttpApiBuilder.serve().pipe(
          Layer.provide(HttpApiBuilder.middleware(ErrorPipeline.middleware({ exposeStack: false }))),
          Layer.provide(api),
          Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
        )
      : serveWith(api, { port: 0, host: "127.0.0.1", accessLog: options.accessLog ?? accessLog })
  /**
   * The groups' services (storage read client, tenancy repos, the limits area as the api role runs it);
   * credentials stay the test implementation.
   */
  const groupServices = Layer.mergeAll(
    ReadSql.fromPrimary,
    TenancyReposLive,
    ApiKeyCache.Default,
    BruteForce.Default,
    TestLimitsLive
  ).pipe(Layer.provide(QueueRedis.Default))
  const layer = served.pipe(
    Layer.provide(groupServices),
    Layer.provide(redis),
    Layer.provide(TestCredentialsLive),
    Layer.provideMerge(TestDatabase.layer(options.label)),
    Layer.provide(AppConfig.Default),
    Layer.provide(options.logger ?? Layer.empty),
    Layer.provide(Layer.setConfigProvider(provider))
  )
  return { layer, accessLog }
}

export const baseUrl = Effect.map(HttpServer.HttpServer, (s) =>
  s.address._tag === "TcpAddress" ? `http://127.0.0.1:${s.address.port}` : ""
)

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: Record<string, unknown>
}

export const call = (url: string, init: RequestInit = {}): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const res = await fetch(url, init)
    const text = await res.text()
    let json: Record<string, unknown> = {}
    try {
      json = JSON.parse(text) as Record<string, unknown>
    } catch {
      json = {}
    }
    return { status: res.status, headers: res.headers, text, json }
  })

export interface SendOptions {
  /** Sent as `Authorization: Bearer …` (a session token or an API key). */
  readonly token?: string
  /** Sent as JSON. */
  readonly body?: unknown
  readonly headers?: Record<string, string>
}

/** One request to the server under test: JSON body and bearer token when given. */
export const send = (
  method: string,
  path: string,
  options: SendOptions = {}
): Effect.Effect<Reply, never, HttpServer.HttpServer> =>
  Effect.flatMap(baseUrl, (base) =>
    call(`${base}${path}`, {
      method,
      headers: {
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {})
    })
  )
