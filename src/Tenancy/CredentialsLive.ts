/**
 * The tenancy area's implementation of the HTTP layer's `Credentials` and `OrgDirectory` (src/Http/Credentials.ts),
 * over the pre-tenant repository lookups (by hash, by id/slug), before any RequestContext exists.
 *
 * - API keys: malformed secrets are refused without a query; hits are cached briefly (ApiKeyCache.ts states the
 *   revocation bound); `last_used_at` is written in the background at most once a minute per key and instance
 *   (the repository also refuses more than once a minute across instances).
 * - Sessions: never cached, so logout and expiry apply at once; sliding expiry moves `expires_at` to now + TTL,
 *   debounced to one write a minute per session (the window's loss is at most that minute of the TTL), and never
 *   past the absolute lifetime counted from login (THREADLINE_SESSION_ABSOLUTE_TTL_SECONDS), checked on every use.
 */
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { AppConfig } from "../Config.js"
import {
  type ApiKeyPrincipal,
  Credentials,
  OrgDirectory,
  type OrganizationRef,
  type SessionPrincipal
} from "../Http/Credentials.js"
import { Unauthorized } from "../Http/Errors.js"
import * as RequestId from "../Http/RequestId.js"
import { RequestContext, type OrganizationId, type UserId } from "../RequestContext.js"
import { ApiKeysRepo } from "../Sql/ApiKeysRepo.js"
import { OrganizationsRepo } from "../Sql/OrganizationsRepo.js"
import { SessionsRepo } from "../Sql/SessionsRepo.js"
import { UsersRepo } from "../Sql/UsersRepo.js"
import { ApiKeyCache } from "./ApiKeyCache.js"
import { TenancyConfig } from "./TenancyConfig.js"
import { isWellFormedKey, sha256Hex } from "./Tokens.js"

const TOUCH_DEBOUNCE_MS = 60_000

/** Remembers when something was last written, bounded; true when `id` is due for another write. */
const debouncer = (intervalMs: number, capacity = 10_000) => {
  const last = new Map<string, number>()
  return (id: string, now: number): boolean => {
    const at = last.get(id)
    if (at !== undefined && now - at < intervalMs) return false
    last.delete(id)
    last.set(id, now)
    if (last.size > capacity) {
      const oldest = last.keys().next()
      if (oldest.done !== true) last.delete(oldest.value)
    }
    return true
  }
}

const invalidKey = () => new Unauthorized({ message: "invalid API key" })
const invalidSession = () => new Unauthorized({ message: "invalid or expired session" })

export const CredentialsLive: Layer.Layer<
  Credentials | OrgDirectory,
  never,
  AppConfig | ApiKeyCache | ApiKeysRepo | SessionsRepo | UsersRepo | OrganizationsRepo | TenancyConfig
> = Layer.effectContext(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const absoluteTtl = (yield* TenancyConfig).sessionAbsoluteTtlSeconds
    const cache = yield* ApiKeyCache
    const keys = yield* ApiKeysRepo
    const sessions = yield* SessionsRepo
    const users = yield* UsersRepo
    const orgs = yield* OrganizationsRepo
    const keyTouchDue = debouncer(TOUCH_DEBOUNCE_MS)
    const sessionTouchDue = debouncer(TOUCH_DEBOUNCE_MS)

    /**
     * Background `last_used_at` write under the key's own context and the request's id (its statement belongs to
     * this request); its failure must not fail the request.
     */
    const touchKey = (p: ApiKeyPrincipal) =>
      keyTouchDue(p.apiKeyId, Date.now())
        ? Effect.flatMap(RequestId.current, (requestId) =>
            keys.touch.pipe(
              RequestContext.withContext(
                RequestContext.make({
                  origin: "http",
                  actor: { _tag: "apiKey", apiKeyId: p.apiKeyId },
                  organizationId: p.organizationId,
                  projectId: p.projectId,
                  requestId
                })
              )
            )
          ).pipe(
            Effect.catchAllCause((cause) => Effect.logWarning("api key touch failed", cause)),
            Effect.forkDaemon,
            Effect.asVoid
          )
        : Effect.void

    const fromApiKey = (secret: Redacted.Redacted<string>): Effect.Effect<ApiKeyPrincipal, Unauthorized> =>
      Effect.gen(function* () {
        const value = Redacted.value(secret)
        if (!isWellFormedKey(value)) return yield* invalidKey()
        const hash = sha256Hex(value)
        const cached = cache.get(hash)
        const principal: ApiKeyPrincipal =
          cached ??
          (yield* Effect.flatMap(keys.findActiveByHash(hash), (found) =>
            Option.match(found, {
              onNone: () => Effect.fail(invalidKey()),
              onSome: (k) =>
                Effect.sync(() => {
                  const p: ApiKeyPrincipal = {
                    _tag: "ApiKey",
                    apiKeyId: k.id,
                    organizationId: k.organizationId,
                    projectId: k.projectId,
                    keyType: k.type
                  }
                  cache.set(hash, p)
                  return p
                })
            })
          ))
        yield* touchKey(principal)
        return principal
      }).pipe(Effect.withSpan("Credentials.fromApiKey"))

    const fromSession = (token: Redacted.Redacted<string>): Effect.Effect<SessionPrincipal, Unauthorized> =>
      Effect.gen(function* () {
        const value = Redacted.value(token)
        if (value.length < 16 || value.length > 256) return yield* invalidSession()
        const session = yield* sessions.findActiveByTokenHash(sha256Hex(value), absoluteTtl)
        if (Option.isNone(session)) return yield* invalidSession()
        const user = yield* users.findById(session.value.userId)
        if (Option.isNone(user)) return yield* invalidSession()
        const now = Date.now()
        if (sessionTouchDue(session.value.id, now)) {
          const expiresAt = new Date(now + config.sessionTtlSeconds * 1000)
          const stillActive = yield* sessions.touch(session.value.id, expiresAt, absoluteTtl)
          if (!stillActive) return yield* invalidSession()
        }
        return { _tag: "Session", userId: user.value.id, email: user.value.email, sessionId: session.value.id } as const
      }).pipe(Effect.withSpan("Credentials.fromSession"))

    /** By id or slug, through the pre-tenant SECURITY DEFINER lookup (migration 0007); membership is separate. */
    const findOrganization = (
      key: { readonly id: OrganizationId } | { readonly slug: string }
    ): Effect.Effect<Option.Option<OrganizationRef>> =>
      orgs
        .findRef("id" in key ? key.id : key.slug)
        .pipe(Effect.map(Option.map((o): OrganizationRef => ({ id: o.id, slug: o.slug }))))

    const memberRole = (organizationId: OrganizationId, userId: UserId) =>
      Effect.map(
        orgs.membership(organizationId, userId),
        Option.map((m) => m.role)
      )

    return Context.make(Credentials, { fromApiKey, fromSession }).pipe(
      Context.add(OrgDirectory, { findOrganization, memberRole })
    )
  })
)
