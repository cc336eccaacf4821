/**
 * Migration 0012's normalization of stored emails (NFKC, then lower case) on rows written before it: where two
 * accounts collide once normalized, the older keeps the address and the newer is renamed to a non-address (nobody
 * can log in to it or register it) and signed out, with a warning; the migration does not fail.
 */
import { PgClient } from "@effect/sql-pg"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { collidedEmail, normalizeEmails } from "../../src/Sql/Migrations/0012_admins_invitations.js"
import { asOwner, TestDatabase, TestDatabaseInfo } from "../support/Database.js"

const ownerClient = Layer.unwrapEffect(
  Effect.map(TestDatabaseInfo, (db) => PgClient.layer({ url: Redacted.make(db.ownerUrl), maxConnections: 1 }))
)

layer(TestDatabase.layer("email_migration"), { timeout: 60_000 })("migration 0012: emails", (it) => {
  it.effect("normalizes every row; a collision keeps the older account and renames and signs out the newer", () =>
    Effect.gen(function* () {
      yield* asOwner((c) =>
        c.query(`INSERT INTO users (id, email, name, password_hash, created_at) VALUES
          ('usr_old', 'Kelvin@Example.com', 'old', 'x', now() - interval '2 days'),
          ('usr_new', '\u212Aelvin@example.com', 'new', 'x', now() - interval '1 day'),
          ('usr_newer', 'KELVIN@EXAMPLE.COM', 'newer', 'x', now()),
          ('usr_solo', 'Solo@Example.COM', 'solo', 'x', now()),
          ('usr_wide', '\uFF57\uFF49\uFF44\uFF45@example.com', 'wide', 'x', now());
          INSERT INTO sessions (id, user_id, token_hash, expires_at) VALUES
          ('ses_new', 'usr_new', 'h1', now() + interval '1 day'),
          ('ses_old', 'usr_old', 'h2', now() + interval '1 day')`)
      )
      const collided = yield* normalizeEmails.pipe(Effect.provide(ownerClient))
      expect([...collided].sort()).toEqual(["usr_new", "usr_newer"])
      const rows = yield* asOwner((c) =>
        c.query<{ id: string; email: string }>(`SELECT id, email FROM users WHERE id LIKE 'usr\\_%' AND length(id) < 12
          ORDER BY id`)
      )
      expect(rows.rows).toEqual([
        { id: "usr_new", email: collidedEmail("kelvin@example.com", "usr_new") },
        { id: "usr_newer", email: collidedEmail("kelvin@example.com", "usr_newer") },
        { id: "usr_old", email: "kelvin@example.com" },
        { id: "usr_solo", email: "solo@example.com" },
        { id: "usr_wide", email: "wide@example.com" }
      ])
      // a renamed address is no email (the schema refuses whitespace): nobody can log in to it or register it
      expect(collidedEmail("kelvin@example.com", "usr_new")).toMatch(/\s/)
      const sessions = yield* asOwner((c) =>
        c.query<{ id: string; revoked: boolean }>(
          `SELECT id, revoked_at IS NOT NULL AS revoked FROM sessions ORDER BY id`
        )
      )
      expect(sessions.rows).toEqual([
        { id: "ses_new", revoked: true },
        { id: "ses_old", revoked: false }
      ])
      // run again: nothing left to change
      expect(yield* normalizeEmails.pipe(Effect.provide(ownerClient))).toEqual([])
    })
  )
})
