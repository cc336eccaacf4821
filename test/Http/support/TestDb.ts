/**
 * A database of its own per test file (created through DATABASE_URL, dropped at the end) holding the tables the
 * test credential implementation reads. The real tables belong to the tenancy area; these are only as wide as the
 * HTTP interfaces (Credentials, OrgDirectory) and the limits area's per-request read (organization_limits) need.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import pg from "pg"

export const baseUrl =
  process.env.DATABASE_OWNER_URL ?? process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:55432/postgres"

const admin = async <A>(f: (c: pg.Client) => Promise<A>): Promise<A> => {
  const c = new pg.Client({ connectionString: baseUrl })
  await c.connect()
  try {
    return await f(c)
  } finally {
    await c.end()
  }
}

export const DDL = `
CREATE TABLE organizations (id text PRIMARY KEY, slug text NOT NULL UNIQUE);
CREATE TABLE users (id text PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE memberships (
  organization_id text NOT NULL REFERENCES organizations, user_id text NOT NULL REFERENCES users,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')), PRIMARY KEY (organization_id, user_id));
CREATE TABLE projects (id text PRIMARY KEY, organization_id text NOT NULL REFERENCES organizations);
CREATE TABLE api_keys (
  id text PRIMARY KEY, organization_id text NOT NULL, project_id text NOT NULL REFERENCES projects,
  key_hash text NOT NULL UNIQUE, type text NOT NULL CHECK (type IN ('write', 'full')), revoked_at timestamptz);
CREATE TABLE sessions (
  id text PRIMARY KEY, user_id text NOT NULL REFERENCES users, token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL, revoked_at timestamptz);
-- what the limits area reads per request (an organization's overrides), in a tenant transaction as the app role
DO $$
BEGIN
  CREATE ROLE threadline_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
CREATE TABLE organization_limits (
  organization_id text PRIMARY KEY, requests_per_minute integer, api_key_requests_per_minute integer,
  ingest_events_per_month bigint, ingest_bytes_per_month bigint, storage_bytes bigint, alert_rules integer,
  api_keys integer, updated_at timestamptz NOT NULL DEFAULT now(), updated_by text);
GRANT SELECT ON organization_limits TO threadline_app;
`

export const urlOf = (db: string) => {
  const url = new URL(baseUrl)
  url.pathname = `/${db}`
  return url.toString()
}

export const createDatabase = (db: string) =>
  Effect.promise(() =>
    admin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
      await c.query(`CREATE DATABASE ${db}`)
      const t = new pg.Client({ connectionString: urlOf(db) })
      await t.connect()
      await t.query(DDL)
      await t.end()
    })
  )

export const dropDatabase = (db: string) =>
  Effect.promise(() => admin((c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)))

/** SqlClient over a fresh database named after the test file's label; dropped when the layer closes. */
export const testDbLayer = (label: string): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient> => {
  const db = `t_http_${label}_${process.pid}`
  return Layer.unwrapScoped(
    Effect.acquireRelease(createDatabase(db), () => dropDatabase(db)).pipe(
      Effect.as(PgClient.layer({ url: Redacted.make(urlOf(db)), maxConnections: 5 }).pipe(Layer.orDie))
    )
  )
}
