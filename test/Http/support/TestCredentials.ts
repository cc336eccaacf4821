/**
 * A test implementation of the HTTP layer's interfaces (Credentials, OrgDirectory) over the migrated schema, as the
 * app login through the pre-tenant lookups the real one uses (no key format check, no sliding sessions). API key
 * lookups go through a short positive cache, like the real implementation, so the benchmark's authenticated route
 * measures the cached path. Fixtures (`seed`, inserted as the owner) live here, once.
 */
import { createHash, randomBytes } from "node:crypto"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { ownerOf } from "../../../src/Sql/Client.js"
import { Credentials, OrgDirectory, type ApiKeyPrincipal, type Role } from "../../../src/Http/Credentials.js"
import { Unauthorized } from "../../../src/Http/Errors.js"
import type { ApiKeyId, OrganizationId, ProjectId, UserId } from "../../../src/RequestContext.js"

export const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex")

const KEY_CACHE_MS = 5_000

export const TestCredentialsLive: Layer.Layer<Credentials | OrgDirectory, never, SqlClient.SqlClient> =
  Layer.effectContext(
    Effect.gen(function* () {
      // rows as the columns name them (the app's clients map result names to camelCase)
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const keyCache = new Map<string, { principal: ApiKeyPrincipal; at: number }>()
      const invalid = (what: string) => new Unauthorized({ message: `invalid ${what}` })

      const fromApiKey = (secret: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          const hash = sha256(Redacted.value(secret))
          const cached = keyCache.get(hash)
          if (cached !== undefined && Date.now() - cached.at < KEY_CACHE_MS) return cached.principal
          const rows = yield* sql<{ id: string; organization_id: string; project_id: string; type: "write" | "full" }>`
          SELECT id, organization_id, project_id, type FROM threadline_api_key_by_hash(${hash})`.pipe(Effect.orDie)
          const row = rows[0]
          if (row === undefined) return yield* invalid("API key")
          const principal: ApiKeyPrincipal = {
            _tag: "ApiKey",
            apiKeyId: row.id as ApiKeyId,
            organizationId: row.organization_id as OrganizationId,
            projectId: row.project_id as ProjectId,
            keyType: row.type
          }
          keyCache.set(hash, { principal, at: Date.now() })
          return principal
        })

      const fromSession = (token: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          const rows = yield* sql<{ id: string; user_id: string; email: string }>`
          SELECT s.id, s.user_id, u.email FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = ${sha256(Redacted.value(token))} AND s.revoked_at IS NULL AND s.expires_at > now()`.pipe(
            Effect.orDie
          )
          const row = rows[0]
          if (row === undefined) return yield* invalid("or expired session")
          return { _tag: "Session", userId: row.user_id as UserId, email: row.email, sessionId: row.id } as const
        })

      const findOrganization = (key: { readonly id: OrganizationId } | { readonly slug: string }) =>
        Effect.map(
          sql<{ id: string; slug: string }>`SELECT id, slug FROM threadline_organization_ref(${
            "id" in key ? key.id : key.slug
          })`.pipe(Effect.orDie),
          (rows) => Option.map(Option.fromNullable(rows[0]), (r) => ({ id: r.id as OrganizationId, slug: r.slug }))
        )

      const memberRole = (organizationId: OrganizationId, userId: UserId) =>
        Effect.map(
          sql<{ role: Role }>`SELECT role FROM threadline_membership(${organizationId}, ${userId})`.pipe(Effect.orDie),
          (rows) => Option.map(Option.fromNullable(rows[0]), (r) => r.role)
        )

      return Context.make(Credentials, { fromApiKey, fromSession }).pipe(
        Context.add(OrgDirectory, { findOrganization, memberRole })
      )
    })
  )

export interface Fixture {
  readonly orgA: { readonly id: OrganizationId; readonly slug: string }
  readonly orgB: { readonly id: OrganizationId; readonly slug: string }
  readonly projectA: ProjectId
  readonly projectB: ProjectId
  /** Full and write keys of project A, a revoked key, a full key of project B. */
  readonly keys: { readonly full: string; readonly write: string; readonly revoked: string; readonly fullB: string }
  readonly keyIds: { readonly full: ApiKeyId; readonly write: ApiKeyId }
  readonly users: { readonly owner: UserId; readonly member: UserId; readonly outsider: UserId }
  /** Session tokens: owner and member of org A, a user of org B only, an expired one, a revoked one. */
  readonly sessions: {
    readonly owner: string
    readonly member: string
    readonly outsider: string
    readonly expired: string
    readonly revoked: string
  }
}

const secret = (prefix: string) => `${prefix}${randomBytes(32).toString("base64url")}`

/** The owner client of the test database (fixtures cross tenants, so they bypass the policies). */
export const ownerSql = Effect.map(SqlClient.SqlClient, (sql) =>
  Option.getOrThrowWith(ownerOf(sql), () => new Error("the test database has no owner client (TestDatabase.layer)"))
).pipe(Effect.map((owner) => owner.withoutTransforms()))

/** Two organizations with a project each, users with roles, keys and sessions; ids unique per call. */
export const seed: Effect.Effect<Fixture, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* ownerSql
  const n = randomBytes(4).toString("hex")
  const orgA = { id: `org_a${n}` as OrganizationId, slug: `acme-${n}` }
  const orgB = { id: `org_b${n}` as OrganizationId, slug: `globex-${n}` }
  const named = <A extends { readonly id: string }>(row: A) => ({ ...row, name: `fixture ${row.id}` })
  const projectA = `prj_a${n}` as ProjectId
  const projectB = `prj_b${n}` as ProjectId
  const users = { owner: `usr_o${n}` as UserId, member: `usr_m${n}` as UserId, outsider: `usr_x${n}` as UserId }
  const keys = { full: secret("tl_"), write: secret("tl_"), revoked: secret("tl_"), fullB: secret("tl_") }
  const keyIds = { full: `key_f${n}` as ApiKeyId, write: `key_w${n}` as ApiKeyId }
  const sessions = {
    owner: secret(""),
    member: secret(""),
    outsider: secret(""),
    expired: secret(""),
    revoked: secret("")
  }
  yield* Effect.orDie(
    sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`INSERT INTO organizations ${sql.insert([orgA, orgB].map(named))}`
        yield* sql`INSERT INTO projects ${sql.insert(
          [
            { id: projectA, organization_id: orgA.id },
            { id: projectB, organization_id: orgB.id }
          ].map(named)
        )}`
        // no password: these users only ever present a session token
        const user = (id: string, email: string) => ({ ...named({ id, email }), password_hash: "!" })
        yield* sql`INSERT INTO users ${sql.insert([
          user(users.owner, `owner-${n}@example.com`),
          user(users.member, `member-${n}@example.com`),
          user(users.outsider, `outsider-${n}@example.com`)
        ])}`
        yield* sql`INSERT INTO organization_members ${sql.insert([
          { organization_id: orgA.id, user_id: users.owner, role: "owner" },
          { organization_id: orgA.id, user_id: users.member, role: "member" },
          { organization_id: orgB.id, user_id: users.outsider, role: "owner" }
        ])}`
        const key = (id: string, org: string, project: string, k: string, type: string, revoked: boolean) => ({
          id,
          name: `fixture ${id}`,
          prefix: k.slice(0, 8),
          organization_id: org,
          project_id: project,
          key_hash: sha256(k),
          type,
          revoked_at: revoked ? new Date() : null
        })
        yield* sql`INSERT INTO api_keys ${sql.insert([
          key(keyIds.full, orgA.id, projectA, keys.full, "full", false),
          key(keyIds.write, orgA.id, projectA, keys.write, "write", false),
          key(`key_r${n}`, orgA.id, projectA, keys.revoked, "full", true),
          key(`key_b${n}`, orgB.id, projectB, keys.fullB, "full", false)
        ])}`
        const later = new Date(Date.now() + 3_600_000)
        const session = (id: string, user: string, token: string, expires: Date, revoked: boolean) => ({
          id,
          user_id: user,
          token_hash: sha256(token),
          expires_at: expires,
          revoked_at: revoked ? new Date() : null
        })
        yield* sql`INSERT INTO sessions ${sql.insert([
          session(`ses_o${n}`, users.owner, sessions.owner, later, false),
          session(`ses_m${n}`, users.member, sessions.member, later, false),
          session(`ses_x${n}`, users.outsider, sessions.outsider, later, false),
          session(`ses_e${n}`, users.owner, sessions.expired, new Date(Date.now() - 1000), false),
          session(`ses_r${n}`, users.owner, sessions.revoked, later, true)
        ])}`
      })
    )
  )
  return { orgA, orgB, projectA, projectB, keys, keyIds, users, sessions }
})
