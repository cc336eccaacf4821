/**
 * Users are global identities (a user belongs to many organizations), so this table has no tenant policy and
 * these functions need no context. Emails are stored and looked up normalized (`normalizeEmail`); the unique index
 * is on that form, so look-alikes collide. `findByEmail` runs before any context exists (login).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { UserId } from "../RequestContext.js"
import { duplicateKeyOrDie, plain } from "./RepoSupport.js"

/** NFKC, then lower case: `\u212Aelvin@x` (Kelvin sign) and `ＡＤＭＩＮ@x` (full width) are `kelvin@x`, `admin@x`. */
export const normalizeEmail = (email: string): string => email.normalize("NFKC").toLowerCase()

export const User = Schema.Struct({
  id: UserId,
  email: Schema.String,
  name: Schema.String,
  isPlatformAdmin: Schema.Boolean,
  createdAt: Schema.DateFromSelf,
  updatedAt: Schema.DateFromSelf
})
export type User = typeof User.Type

export const UserWithPassword = Schema.Struct({ ...User.fields, passwordHash: Schema.String })
export type UserWithPassword = typeof UserWithPassword.Type

export interface NewUser {
  readonly id: UserId
  readonly email: string
  readonly name: string
  readonly passwordHash: string
}

const COLUMNS = "id, email, name, is_platform_admin, created_at, updated_at"

export class UsersRepo extends Effect.Service<UsersRepo>()("Sql/UsersRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal(COLUMNS)

    /** DuplicateKey `users_email_key` when the normalized email is taken. */
    const insert = (input: NewUser) =>
      duplicateKeyOrDie(
        SqlSchema.single({
          Request: Schema.Void,
          Result: User,
          execute: () => sql`INSERT INTO users (id, email, name, password_hash)
            VALUES (${input.id}, ${normalizeEmail(input.email)}, ${input.name}, ${input.passwordHash})
            RETURNING ${columns}`
        })(undefined)
      ).pipe(Effect.withSpan("UsersRepo.insert"))

    /** PRE-TENANT (login): the user with this email (normalized), with the password hash. */
    const findByEmail = (email: string) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.String,
          Result: UserWithPassword,
          execute: (e) => sql`SELECT ${columns}, password_hash FROM users WHERE email = ${normalizeEmail(e)}`
        })(email)
      ).pipe(Effect.withSpan("UsersRepo.findByEmail"))

    const findById = (id: UserId) =>
      plain(
        SqlSchema.findOne({
          Request: UserId,
          Result: User,
          execute: (u) => sql`SELECT ${columns} FROM users WHERE id = ${u}`
        })(id)
      ).pipe(Effect.withSpan("UsersRepo.findById"))

    /** Replaces the password hash only if it is still `previous` (login's cost upgrade); true when replaced. */
    const updatePasswordHash = (id: UserId, previous: string, next: string) =>
      plain(
        sql`UPDATE users SET password_hash = ${next}, updated_at = now()
          WHERE id = ${id} AND password_hash = ${previous} RETURNING id`
      ).pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.withSpan("UsersRepo.updatePasswordHash")
      )

    /** Whether the user is a platform administrator (false for an unknown id). */
    const isPlatformAdmin = (id: UserId) =>
      plain(sql<{ readonly isPlatformAdmin: boolean }>`SELECT is_platform_admin FROM users WHERE id = ${id}`).pipe(
        Effect.map((rows) => rows[0]?.isPlatformAdmin === true),
        Effect.withSpan("UsersRepo.isPlatformAdmin")
      )

    /**
     * Sets or clears the platform-administrator flag of the user with this email (normalized); the user as it was
     * before, or none for an unknown email. Only the operator's CLI calls it (`threadline admin grant|revoke`).
     */
    const setPlatformAdmin = (email: string, value: boolean) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.String,
          Result: User,
          execute: (e) => sql`UPDATE users u SET is_platform_admin = ${value}, updated_at = now()
            FROM (SELECT id, is_platform_admin FROM users WHERE email = ${normalizeEmail(e)} FOR UPDATE) old
            WHERE u.id = old.id
            RETURNING u.id, u.email, u.name, old.is_platform_admin, u.created_at, u.updated_at`
        })(email)
      ).pipe(Effect.withSpan("UsersRepo.setPlatformAdmin"))

    return { insert, findByEmail, findById, updatePasswordHash, isPlatformAdmin, setPlatformAdmin } as const
  })
}) {}
