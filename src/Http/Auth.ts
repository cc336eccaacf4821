/**
 * Authentication middleware: turns the request's credential into the RequestContext its handler runs under
 * (origin `http`, the actor, organization and project, the request id from RequestId.ts, the request's trace).
 *
 * Credentials (API.md "Authentication"): an API key in `X-API-Key` or `Authorization: Bearer tl_…`; a session token
 * in the `threadline_session` cookie or `Authorization: Bearer <token>`. Exactly one credential is used, chosen in
 * that order, and a present-but-invalid one is never silently replaced by another.
 *
 * Why the schemes do not each decide on their own: the platform tries security schemes in declaration order,
 * chains them with catchAll, reports the LAST scheme's error and hands an absent credential over as an empty
 * Redacted (effect-notes/BRIEF.md §1). So the first scheme's handler decides for the whole request and records
 * its failure; the later ones repeat that failure instead of replacing it with their own "missing" error. `bearer`
 * is declared first because its platform decoding is a string slice (an `apiKey` scheme decodes the headers
 * through a Schema on every request), and the first scheme's decoding is the only one a valid request pays.
 *
 * Four tags, one per kind of route: any credential; API keys only (ingest); reading (a `full` key or a session; a
 * `write` key is 403); sessions only (tenancy). A session alone has no organization: its context runs under
 * `org_system` until OrgAccess resolves `{org}` (CONTRACTS.md).
 */
import { HttpApiMiddleware, HttpApiSecurity, HttpServerRequest, OpenApi } from "@effect/platform"
import { Effect, FiberRef, Layer, Option, Redacted, Schema } from "effect"
import { RequestContext, type RequestContextData, SYSTEM_ORGANIZATION_ID, Traceparent } from "../RequestContext.js"
import { type AuthResult, Credentials, type CredentialsShape } from "./Credentials.js"
import { Forbidden, Unauthorized } from "./Errors.js"
import * as RequestId from "./RequestId.js"
import { limit, RateLimited, RequestLimiter } from "./RequestLimiter.js"
import { RequestState } from "./RequestState.js"

export const SESSION_COOKIE = "threadline_session"
export const API_KEY_PREFIX = "tl_"

const apiKey = HttpApiSecurity.apiKey({ key: "X-API-Key", in: "header" }).pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "API key `tl_…` (also accepted as `Authorization: Bearer tl_…`)")
)
const bearer = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "`Bearer tl_…` (API key) or `Bearer <session token>`")
)
const session = HttpApiSecurity.apiKey({ key: SESSION_COOKIE, in: "cookie" }).pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "session cookie set by POST /api/v1/auth/login")
)

/** Any credential: an API key (write or full) or a session. */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Http/Authentication", {
  failure: Schema.Union(Unauthorized, RateLimited),
  provides: RequestContext,
  security: { bearer, apiKey, session }
}) {}

/** API keys only, of either type (ingestion). */
export class ApiKeyAuthentication extends HttpApiMiddleware.Tag<ApiKeyAuthentication>()("Http/ApiKeyAuthentication", {
  failure: Schema.Union(Unauthorized, RateLimited),
  provides: RequestContext,
  security: { bearer, apiKey }
}) {}

/** Reading tenant data: a `full` API key or a session; a `write` key is refused with 403. */
export class ReadAuthentication extends HttpApiMiddleware.Tag<ReadAuthentication>()("Http/ReadAuthentication", {
  failure: Schema.Union(Unauthorized, Forbidden, RateLimited),
  provides: RequestContext,
  security: { bearer, apiKey, session }
}) {}

/** Sessions only (account and organization management). */
export class SessionAuthentication extends HttpApiMiddleware.Tag<SessionAuthentication>()(
  "Http/SessionAuthentication",
  { failure: Schema.Union(Unauthorized, RateLimited), provides: RequestContext, security: { bearer, session } }
) {}

/** The principal of the current request, for handlers that behave differently per kind (set by the middleware). */
export const CurrentPrincipal: FiberRef.FiberRef<Option.Option<AuthResult>> = FiberRef.unsafeMake<
  Option.Option<AuthResult>
>(Option.none())

export const principal: Effect.Effect<Option.Option<AuthResult>> = FiberRef.get(CurrentPrincipal)

/** The first scheme's failure, repeated by the later schemes (see the file comment). */
const FirstFailure = FiberRef.unsafeMake<Option.Option<Unauthorized | Forbidden | RateLimited>>(Option.none())

type Found =
  | { readonly _tag: "ApiKey"; readonly secret: string }
  | { readonly _tag: "Session"; readonly token: string }
  | { readonly _tag: "Refused"; readonly message: string }

/** Which credential the request carries, in precedence order; pure over the headers. */
export const credentialOf = (request: HttpServerRequest.HttpServerRequest): Found => {
  const key = request.headers["x-api-key"]
  if (key !== undefined) {
    return key.trim() === "" ? { _tag: "Refused", message: "empty X-API-Key" } : { _tag: "ApiKey", secret: key.trim() }
  }
  const authorization = request.headers["authorization"]
  if (authorization !== undefined) {
    const match = /^Bearer(?:[ ]+(.*))?$/i.exec(authorization.trim())
    if (match === null) return { _tag: "Refused", message: "unsupported Authorization scheme; use Bearer" }
    const token = (match[1] ?? "").trim()
    if (token === "") return { _tag: "Refused", message: "empty bearer token" }
    return token.startsWith(API_KEY_PREFIX) ? { _tag: "ApiKey", secret: token } : { _tag: "Session", token }
  }
  const cookie = request.cookies[SESSION_COOKIE]
  if (cookie !== undefined && cookie !== "") return { _tag: "Session", token: cookie }
  return { _tag: "Refused", message: "missing credentials" }
}

interface Policy {
  readonly apiKeys: boolean
  readonly sessions: boolean
}

const toContext = (p: AuthResult, requestId: RequestContextData["requestId"], traceparent: string) =>
  RequestContext.make(
    p._tag === "ApiKey"
      ? {
          origin: "http",
          actor: { _tag: "apiKey", apiKeyId: p.apiKeyId },
          organizationId: p.organizationId,
          projectId: p.projectId,
          requestId,
          traceparent
        }
      : {
          origin: "http",
          actor: { _tag: "user", userId: p.userId },
          organizationId: SYSTEM_ORGANIZATION_ID,
          projectId: null,
          requestId,
          traceparent
        }
  )

/**
 * The context the credential lookups run under: no tenant is known yet, but their statements (API key by hash,
 * session by token hash, the session's sliding expiry) must still carry the request's id in their SQL comment and
 * log lines, so an operator following one request id finds them too (login's lookup by email uses it as well). The
 * actor is the platform authenticating. Not recorded for the access log: the request's own context comes after.
 */
export const preAuthenticationContext: Effect.Effect<RequestContextData, never, HttpServerRequest.HttpServerRequest> =
  Effect.gen(function* () {
    const state = yield* Effect.serviceOption(RequestState)
    if (Option.isSome(state)) {
      return RequestContext.make({
        origin: "http",
        actor: { _tag: "system", reason: "authentication" },
        organizationId: SYSTEM_ORGANIZATION_ID,
        requestId: state.value.requestId,
        traceparent: state.value.traceparent
      })
    }
    const request = yield* HttpServerRequest.HttpServerRequest
    return RequestContext.make({
      origin: "http",
      actor: { _tag: "system", reason: "authentication" },
      organizationId: SYSTEM_ORGANIZATION_ID,
      requestId: yield* RequestId.current,
      traceparent: Traceparent.child(request.headers["traceparent"])
    })
  })

/** Which principal the request's credential belongs to, under the route's policy. */
/** A credential lookup, run under the pre-authentication context (its statements carry the request id). */
const lookUp = (lookup: Effect.Effect<AuthResult, Unauthorized, RequestContext>) =>
  Effect.flatMap(preAuthenticationContext, (ctx) => RequestContext.withContext(ctx)(lookup))

const authenticate = (credentials: CredentialsShape, policy: Policy) =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request): Effect.Effect<AuthResult, Unauthorized, HttpServerRequest.HttpServerRequest> => {
      const found = credentialOf(request)
      switch (found._tag) {
        case "Refused":
          return Effect.fail(new Unauthorized({ message: found.message }))
        case "ApiKey":
          return policy.apiKeys
            ? lookUp(credentials.fromApiKey(Redacted.make(found.secret)))
            : Effect.fail(new Unauthorized({ message: "this endpoint requires a session" }))
        case "Session":
          return policy.sessions
            ? lookUp(credentials.fromSession(Redacted.make(found.token)))
            : Effect.fail(new Unauthorized({ message: "this endpoint requires an API key" }))
      }
    }
  )

/** The context the handler runs under; recorded for the access log and the principal accessor. */
const establish = (rateLimit: ReturnType<typeof limit>) => (result: AuthResult) =>
  Effect.gen(function* () {
    const state = yield* Effect.serviceOption(RequestState)
    let ctx: RequestContextData
    if (Option.isSome(state)) {
      ctx = toContext(result, state.value.requestId, state.value.traceparent)
      state.value.context = ctx
    } else {
      const request = yield* HttpServerRequest.HttpServerRequest
      ctx = toContext(result, yield* RequestId.current, Traceparent.child(request.headers["traceparent"]))
    }
    yield* FiberRef.set(CurrentPrincipal, Option.some(result))
    // counted once the context is known: buckets are keyed from it, never from the raw credential
    yield* rateLimit(ctx)
    return ctx
  })

const requireFullKey = (result: AuthResult): Effect.Effect<AuthResult, Forbidden> =>
  result._tag === "ApiKey" && result.keyType !== "full"
    ? Effect.fail(new Forbidden({ message: "this API key can only ingest; reading needs a full key" }))
    : Effect.succeed(result)

/** The handlers of one tag: the first scheme decides, the others repeat its failure. */
const handlers = <K extends string, E extends Unauthorized | Forbidden | RateLimited>(
  schemes: ReadonlyArray<K>,
  decide: Effect.Effect<RequestContextData, E, HttpServerRequest.HttpServerRequest>
) => {
  const first = Effect.tapError(decide, (e) => FiberRef.set(FirstFailure, Option.some(e)))
  const repeat = Effect.flatMap(FiberRef.get(FirstFailure), (failure) =>
    Option.isSome(failure) ? Effect.fail(failure.value as E) : decide
  )
  const out = {} as Record<K, (credential: unknown) => typeof decide>
  schemes.forEach((scheme, i) => {
    out[scheme] = () => (i === 0 ? first : repeat)
  })
  return out
}

const ANY: Policy = { apiKeys: true, sessions: true }

/** What every tag's handlers use, taken once when the layer is built. */
const services = Effect.map(Effect.all([Credentials, RequestLimiter]), ([c, limiter]) => ({
  c,
  establish: establish(limit(limiter))
}))

export const AuthenticationLive: Layer.Layer<
  Authentication | ApiKeyAuthentication | ReadAuthentication | SessionAuthentication,
  never,
  Credentials | RequestLimiter
> = Layer.mergeAll(
  Layer.effect(
    Authentication,
    Effect.map(services, ({ c, establish }) =>
      Authentication.of(handlers(["bearer", "apiKey", "session"], Effect.flatMap(authenticate(c, ANY), establish)))
    )
  ),
  Layer.effect(
    ApiKeyAuthentication,
    Effect.map(services, ({ c, establish }) =>
      ApiKeyAuthentication.of(
        handlers(["bearer", "apiKey"], Effect.flatMap(authenticate(c, { apiKeys: true, sessions: false }), establish))
      )
    )
  ),
  Layer.effect(
    ReadAuthentication,
    Effect.map(services, ({ c, establish }) =>
      ReadAuthentication.of(
        handlers(
          ["apiKey", "bearer", "session"],
          authenticate(c, ANY).pipe(Effect.flatMap(requireFullKey), Effect.flatMap(establish))
        )
      )
    )
  ),
  Layer.effect(
    SessionAuthentication,
    Effect.map(services, ({ c, establish }) =>
      SessionAuthentication.of(
        handlers(["bearer", "session"], Effect.flatMap(authenticate(c, { apiKeys: false, sessions: true }), establish))
      )
    )
  )
)
