/**
 * Login sessions. Global like users (a session is a user's, not an organization's); only the SHA-256 hash of
 * the token is stored. `findActiveByTokenHash` runs before any context exists (session authentication).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { UserId } from "../RequestContext.js"
import { duplicateKeyOrDie, plain } from "./RepoSupport.js"

export const Session = Schema.Struct({
  id: Schema.String,
  userId: UserId,
  createdAt: Schema.DateFromSelf,
  expiresAt: Schema.DateFromSelf,
  lastSeenAt: Schema.DateFromSelf,
  revokedAt: Schema.NullOr(Schema.DateFromSelf)
})
export type Session = typeof Session.Type

export interface NewSession {
  readonly id: string
  readonly userId: UserId
  readonly tokenHash: string
  readonly expiresAt: Date
  readonly userAgent: string | null
  readonly ip: string | null
}

const COLUMNS = "id, user_id, created_at, expires_at, last_seen_at, revoked_at"

export class SessionsRepo extends Effect.Service<SessionsRepo>()("Sql/SessionsRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal(COLUMNS)
    const absoluteBound = (seconds: number | undefined) =>
      seconds === undefined ? sql.literal("true") : sql`created_at > now() - make_interval(secs => ${seconds})`

    const insert = (input: NewSession) =>
      duplicateKeyOrDie(
        SqlSchema.single({
          Request: Schema.Void,
          Result: Session,
          execute: () => sql`INSERT INTO sessions (id, user_id, token_hash, expires_at, user_agent, ip)
            VALUES (${input.id}, ${input.userId}, ${input.tokenHash}, ${input.expiresAt}, ${input.userAgent},
              ${input.ip})
            RETURNING ${columns}`
        })(undefined)
      ).pipe(Effect.withSpan("SessionsRepo.insert"))

    /**
     * PRE-TENANT: the unexpired, unrevoked session with this token hash; with `absoluteTtlSeconds`, also no older
     * than that (however recently it was used).
     */
    const findActiveByTokenHash = (tokenHash: string, absoluteTtlSeconds?: number) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.String,
          Result: Session,
          execute: (h) => sql`SELECT ${columns} FROM sessions
            WHERE token_hash = ${h} AND revoked_at IS NULL AND expires_at > now()
            AND ${absoluteBound(absoluteTtlSeconds)}`
        })(tokenHash)
      ).pipe(Effect.withSpan("SessionsRepo.findActiveByTokenHash"))

    /**
     * Sliding expiration: marks the session seen and moves its expiry, never past `created_at` + the absolute
     * lifetime when one is given; false when it is no longer active.
     */
    const touch = (id: string, expiresAt: Date, absoluteTtlSeconds?: number) =>
      plain(
        absoluteTtlSeconds === undefined
          ? sql`UPDATE sessions SET last_seen_at = now(), expires_at = ${expiresAt}
              WHERE id = ${id} AND revoked_at IS NULL AND expires_at > now() RETURNING id`
          : sql`UPDATE sessions SET last_seen_at = now(),
                expires_at = least(${expiresAt}::timestamptz, created_at + make_interval(secs => ${absoluteTtlSeconds}))
              WHERE id = ${id} AND revoked_at IS NULL AND expires_at > now()
              AND ${absoluteBound(absoluteTtlSeconds)} RETURNING id`
      ).pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.withSpan("SessionsRepo.touch")
      )

    const revoke = (id: string) =>
      plain(sql`UPDATE sessions SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL RETURNING id`).pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.withSpan("SessionsRepo.revoke")
      )

    /** Revokes every active session of the user ("sign out everywhere"); how many were active. */
    const revokeAllForUser = (userId: UserId) =>
      plain(
        sql`UPDATE sessions SET revoked_at = now() WHERE user_id = ${userId} AND revoked_at IS NULL
          AND expires_at > now() RETURNING id`
      ).pipe(
        Effect.map((rows) => rows.length),
        Effect.withSpan("SessionsRepo.revokeAllForUser")
      )

    return { insert, findActiveByTokenHash, touch, revoke, revokeAllForUser } as const
  })
}) {}
