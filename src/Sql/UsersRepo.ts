/**
 * Users are global identities (a user belongs to many organizations), so this table has no tenant policy and
 * these functions need no context. `findByEmail` runs before any context exists (login).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { UserId } from "../RequestContext.js"
import { duplicateKeyOrDie, plain } from "./RepoSupport.js"

export const User = Schema.Struct({
  id: UserId,
  email: Schema.String,
  name: Schema.String,
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

export class UsersRepo extends Effect.Service<UsersRepo>()("Sql/UsersRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** DuplicateKey `users_email_key` when the email (case-insensitively) is taken. */
    const insert = (input: NewUser) =>
      duplicateKeyOrDie(
        SqlSchema.single({
          Request: Schema.Void,
          Result: User,
          execute: () => sql`INSERT INTO users (id, email, name, password_hash)
            VALUES (${input.id}, ${input.email}, ${input.name}, ${input.passwordHash})
            RETURNING id, email, name, created_at, updated_at`
        })(undefined)
      ).pipe(Effect.withSpan("UsersRepo.insert"))

    /** PRE-TENANT (login): the user with this email, case-insensitively, with the password hash. */
    const findByEmail = (email: string) =>
      plain(
        SqlSchema.findOne({
          Request: Schema.String,
          Result: UserWithPassword,
          execute: (e) => sql`SELECT * FROM users WHERE lower(email) = lower(${e})`
        })(email)
      ).pipe(Effect.withSpan("UsersRepo.findByEmail"))

    const findById = (id: UserId) =>
      plain(
        SqlSchema.findOne({
          Request: UserId,
          Result: User,
          execute: (u) => sql`SELECT id, email, name, created_at, updated_at FROM users WHERE id = ${u}`
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

    return { insert, findByEmail, findById, updatePasswordHash } as const
  })
}) {}
