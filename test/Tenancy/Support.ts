/**
 * The tenancy groups with the authentication src/Http/Api.ts gives them, served by the application's wiring
 * (serveWith) on a random port, over a fresh migrated database, real Redis and the real tenancy implementation of
 * Credentials/OrgDirectory.
 */
import { limitsConfig, TestLimitsLive } from "../support/Limits.js"
import { randomBytes } from "node:crypto"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { ConfigProvider, Effect, Layer, Schema } from "effect"
import { AppConfig } from "../../src/Config.js"
import { AuthenticationLive, ReadAuthentication, SessionAuthentication } from "../../src/Http/Auth.js"
import * as AccessLog from "../../src/Http/AccessLog.js"
import { RedisPing } from "../../src/Http/HealthHttp.js"
import { OrgAccess } from "../../src/Http/OrgAccess.js"
import { serveWith } from "../../src/Http/Server.js"
import { QueueRedis } from "../../src/Queue/Redis.js"
import { RequestContext } from "../../src/RequestContext.js"
import * as Account from "../../src/Tenancy/AccountHttp.js"
import * as Auth from "../../src/Tenancy/AuthHttp.js"
import * as Invitations from "../../src/Tenancy/InvitationsHttp.js"
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
 * Its own Api: the real tenancy groups with the middleware src/Http/Api.ts gives them, plus a probe route that
 * answers with the context an API key produces (no application route exposes it).
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
    .handle("logoutAll", Account.logoutAll)
    .handle("me", Account.me)
    .handle("createOrg", Account.createOrg)
    .handle("listOrgs", Account.listOrgs)
    .handle("acceptInvitation", Invitations.acceptInvitation)
)
const OrgsLive = HttpApiBuilder.group(TenancyTestApi, "orgs", (h) =>
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

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6390"

export const tenancyServer = (label: string, config: Record<string, string> = {}) => {
  const accessLog = AccessLog.memorySink()
  const provider = ConfigProvider.fromMap(
    new Map(
      Object.entries({
        THREADLINE_ENV: "test",
        REDIS_URL,
        THREADLINE_QUEUE_PREFIX: `tl-test-tenancy-${randomBytes(4).toString("hex")}`,
        ...limitsConfig(label),
        ...config
      })
    )
  )
  const api = HttpApiBuilder.api(TenancyTestApi).pipe(
    Layer.provide(Layer.mergeAll(AuthLive, AccountLive, OrgsLive, KeyProbeLive)),
    Layer.provide(AuthenticationLive),
    Layer.provide(OrgAccess.Default)
  )
  const layer = serveWith(api, { port: 0, host: "127.0.0.1", accessLog }).pipe(
    Layer.provide(RedisPing.fromQueueRedis),
    // the limits area as the api role runs it (rate-limit step, API-key quota)
    Layer.provideMerge(TestLimitsLive),
    Layer.provideMerge(TenancyLive),
    Layer.provideMerge(QueueRedis.Default),
    Layer.provideMerge(TestDatabase.layer(label)),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(Layer.setConfigProvider(provider))
  )
  return { layer, accessLog }
}

export { baseUrl, call, type Reply } from "../Http/support/TestServer.js"

export const jsonBody = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body)
})
