/**
 * The tenancy groups with the authentication src/Http/Api.ts will give them, served by the platform's
 * real wiring (serveWith) on a random port, over a fresh migrated database, real Redis and the real tenancy
 * implementation of Credentials/OrgDirectory. The group layers here are the lines src/Http/Groups.ts needs.
 */
import { randomBytes } from "node:crypto"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpServer } from "@effect/platform"
import { ConfigProvider, Effect, Layer, Schema } from "effect"
import { AppConfig } from "../../src/Config.js"
import { AuthenticationLive, ReadAuthentication, SessionAuthentication } from "../../src/Http/Auth.js"
import * as AccessLog from "../../src/Http/AccessLog.js"
import { RedisPing } from "../../src/Http/HealthHttp.js"
import { OrgAccess } from "../../src/Http/OrgAccess.js"
import * as ApiRoutes from "../../src/Http/ApiRoutes.js"
import { DocsLive } from "../../src/Http/Docs.js"
import * as NodeServer from "../../src/Http/NodeServer.js"
import { securityOptions } from "../../src/Http/Security.js"
import { QueueRedis } from "../../src/Queue/Redis.js"
import { RequestContext } from "../../src/RequestContext.js"
import * as Account from "../../src/Tenancy/AccountHttp.js"
import * as Auth from "../../src/Tenancy/AuthHttp.js"
import * as Orgs from "../../src/Tenancy/OrgsHttp.js"
import { AccountApi, AuthApi, OrgsApi } from "../../src/Tenancy/TenancyApi.js"
import { TenancyLive } from "../../src/Tenancy/TenancyLive.js"
import { TestDatabase } from "../support/Database.js"

/** An API-key route (ReadAuthentication, as logs search uses): answers with the context it ran under. */
class KeyProbeApi extends HttpApiGroup.make("keyProbe")
  .add(
    HttpApiEndpoint.get("whoami", "/test/key-probe").addSuccess(
      Schema.Struct({
        organizationId: Schema.String,
        projectId: Schema.NullOr(Schema.String),
        apiKeyId: Schema.NullOr(Schema.String)
      })
    )
  )
  .middleware(ReadAuthentication) {}

/**
 * Its own Api (not src/Http/Api.ts extended): the other groups' layers are being reworked by their owners, and
 * this file must not depend on them. src/Http/Api.ts adds the same three groups with the same middleware.
 */
export class TenancyTestApi extends HttpApi.make("tenancy-test")
  .add(AuthApi)
  .add(AccountApi.middleware(SessionAuthentication))
  .add(OrgsApi.middleware(SessionAuthentication))
  .add(KeyProbeApi) {}

const KeyProbeLive = HttpApiBuilder.group(TenancyTestApi, "keyProbe", (h) =>
  h.handle("whoami", () =>
    Effect.map(RequestContext, (ctx) => ({
      organizationId: ctx.organizationId,
      projectId: ctx.projectId,
      apiKeyId: ctx.apiKeyId
    }))
  )
)

const AuthLive = HttpApiBuilder.group(TenancyTestApi, "auth", (h) =>
  h.handle("register", Auth.register).handle("login", Auth.login)
)
const AccountLive = HttpApiBuilder.group(TenancyTestApi, "account", (h) =>
  h
    .handle("logout", Account.logout)
    .handle("me", Account.me)
    .handle("createOrg", Account.createOrg)
    .handle("listOrgs", Account.listOrgs)
)
const OrgsLive = HttpApiBuilder.group(TenancyTestApi, "orgs", (h) =>
  h
    .handle("getOrg", Orgs.getOrg)
    .handle("listMembers", Orgs.listMembers)
    .handle("addMember", Orgs.addMember)
    .handle("removeMember", Orgs.removeMember)
    .handle("listProjects", Orgs.listProjects)
    .handle("createProject", Orgs.createProject)
    .handle("getProject", Orgs.getProject)
    .handle("deleteProject", Orgs.deleteProject)
    .handle("listKeys", Orgs.listKeys)
    .handle("createKey", Orgs.createKey)
    .handle("revokeKey", Orgs.revokeKey)
)

/**
 * What `serveWith` (src/Http/Server.ts) does, without importing Server.ts: it pulls in Groups.ts, whose logs
 * imports are mid-rework by their owner. Same wiring: ApiRoutes + docs + NodeServer with security and access log.
 */
const served = <E, R>(api: Layer.Layer<HttpApi.Api, E, R>, accessLog: AccessLog.AccessLogSink) =>
  Layer.unwrapEffect(
    Effect.map(securityOptions, (security) =>
      ApiRoutes.serve.pipe(
        Layer.provide(DocsLive({ scalar: false })),
        Layer.provide(api),
        Layer.provideMerge(NodeServer.layer({ port: 0, host: "127.0.0.1", security, accessLog }))
      )
    )
  )

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6390"

export const tenancyServer = (label: string, config: Record<string, string> = {}) => {
  const accessLog = AccessLog.memorySink()
  const provider = ConfigProvider.fromMap(
    new Map(
      Object.entries({
        THREADLINE_ENV: "test",
        REDIS_URL,
        THREADLINE_QUEUE_PREFIX: `tl-test-tenancy-${randomBytes(4).toString("hex")}`,
        ...config
      })
    )
  )
  const api = HttpApiBuilder.api(TenancyTestApi).pipe(
    Layer.provide(Layer.mergeAll(AuthLive, AccountLive, OrgsLive, KeyProbeLive)),
    Layer.provide(AuthenticationLive),
    Layer.provide(OrgAccess.Default)
  )
  const layer = served(api, accessLog).pipe(
    Layer.provide(RedisPing.fromQueueRedis),
    Layer.provideMerge(TenancyLive),
    Layer.provideMerge(QueueRedis.Default),
    Layer.provideMerge(TestDatabase.layer(label)),
    Layer.provideMerge(AppConfig.Default),
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
    return { status: res.status, headers: res.headers, json }
  })

export const jsonBody = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body)
})
