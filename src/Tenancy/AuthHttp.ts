/**
 * Handlers of the `auth` group (no credentials): register and login. Both pass the brute-force limits before any
 * password work (login's failures count, its successes do not); login answers the same 401 for an unknown email and
 * a wrong password, after the same scrypt cost (a decoy hash), so accounts cannot be enumerated.
 */
import { preAuthenticationContext } from "../Http/Auth.js"
import { randomBytes } from "node:crypto"
import { Effect, Option, Redacted } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { AppConfig } from "../Config.js"
import { Unauthorized } from "../Http/Errors.js"
import { makeId, RequestContext, UserId } from "../RequestContext.js"
import { SessionsRepo } from "../Sql/SessionsRepo.js"
import { normalizeEmail, UsersRepo } from "../Sql/UsersRepo.js"
import { BruteForce } from "./BruteForce.js"
import { clientIp, httpContext, userAgent } from "./HttpContext.js"
import * as Passwords from "./Passwords.js"
import { setSessionCookie } from "./SessionCookie.js"
import { TenancyConfig } from "./TenancyConfig.js"
import type { LoginPayload, RegisterPayload } from "./TenancySchemas.js"
import { mintSessionToken } from "./Tokens.js"

/** Verified against when the email is unknown; computed on first use (a race computes it twice, harmlessly). */
let decoy: string | undefined
const decoyHash = Effect.suspend(() =>
  decoy !== undefined
    ? Effect.succeed(decoy)
    : Effect.tap(Passwords.hash(Redacted.make(randomBytes(16).toString("hex"))), (h) => {
        decoy = h
      })
)

/**
 * The same 201 and body shape whether or not the email has an account, after the same password hashing: for a
 * taken email nothing is created or changed, the id answered is a fresh one that names no account, and the
 * attempt is audited (`user.register_existing`) instead of `user.register`.
 */
export const register = ({ payload }: { readonly payload: typeof RegisterPayload.Type }) =>
  Effect.gen(function* () {
    const email = normalizeEmail(payload.email)
    yield* (yield* BruteForce).attempt("register", yield* clientIp, email)
    const users = yield* UsersRepo
    const audit = yield* AuditLog
    const id = UserId.make(makeId("usr"))
    const passwordHash = yield* Passwords.hash(Redacted.make(payload.password))
    const ctx = yield* httpContext({ _tag: "user", userId: id })
    const user = yield* audit
      .audited(users.insert({ id, email, name: payload.name, passwordHash }), (u) => ({
        action: "user.register",
        target: { type: "user", id: u.id },
        changes: { email: u.email, name: u.name }
      }))
      .pipe(
        Effect.catchTag("Sql/DuplicateKey", () =>
          audit
            .record({ action: "user.register_existing", target: { type: "user", id: null }, changes: { email } })
            .pipe(Effect.as({ id, email, name: payload.name }))
        ),
        RequestContext.withContext(ctx)
      )
    return { id: user.id, email: user.email, name: user.name }
  }).pipe(Effect.withSpan("Tenancy.register"))

export const login = ({ payload }: { readonly payload: typeof LoginPayload.Type }) =>
  Effect.gen(function* () {
    const bruteForce = yield* BruteForce
    const ip = yield* clientIp
    // counted as a failure before the password is checked; a success gives the count back
    const ticket = yield* bruteForce.loginAttempt(ip, payload.email)
    const config = yield* AppConfig
    const tenancy = yield* TenancyConfig
    // before anyone is authenticated, under a context carrying the request's id (its statement is traceable)
    const preAuth = yield* preAuthenticationContext
    const users = yield* UsersRepo
    const found = yield* users.findByEmail(payload.email).pipe(RequestContext.withContext(preAuth))
    const password = Redacted.make(payload.password)
    const ok = yield* Passwords.verify(password, Option.isSome(found) ? found.value.passwordHash : yield* decoyHash)
    if (Option.isNone(found) || !ok) return yield* new Unauthorized({ message: "invalid email or password" })
    const user = found.value
    yield* bruteForce.loginSucceeded(ticket)
    // a hash made at an older cost is replaced now that the password is known (only if nobody changed it since)
    if (yield* Passwords.needsRehash(user.passwordHash)) {
      const upgraded = yield* Passwords.hash(password)
      yield* users.updatePasswordHash(user.id, user.passwordHash, upgraded).pipe(RequestContext.withContext(preAuth))
    }
    const minted = mintSessionToken()
    const now = Date.now()
    // the sliding expiry, never past the absolute lifetime counted from now (the session's creation)
    const expiresAt = new Date(now + Math.min(config.sessionTtlSeconds, tenancy.sessionAbsoluteTtlSeconds) * 1000)
    const sessionId = makeId("ses")
    const ctx = yield* httpContext({ _tag: "user", userId: user.id })
    const sessions = yield* SessionsRepo
    yield* (yield* AuditLog)
      .audited(
        sessions.insert({
          id: sessionId,
          userId: user.id,
          tokenHash: minted.hash,
          expiresAt,
          userAgent: yield* userAgent,
          ip
        }),
        () => ({ action: "session.create", target: { type: "session", id: sessionId } })
      )
      .pipe(RequestContext.withContext(ctx), Effect.orDie)
    const token = Redacted.value(minted.token)
    yield* setSessionCookie(token)
    return {
      token,
      expiresAt: expiresAt.toISOString(),
      user: { id: user.id, email: user.email, name: user.name }
    }
  }).pipe(Effect.withSpan("Tenancy.login"))
