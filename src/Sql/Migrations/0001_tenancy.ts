/**
 * The runtime role, organizations (with the `org_system` row), users, memberships, sessions, projects, API keys,
 * and the SECURITY DEFINER functions behind the pre-tenant lookups (src/Sql/README.md).
 * Users and sessions are global identities, not tenant data: they carry no organization and have no tenant policy.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { APP_ROLE, grant, tenantPolicy } from "./Rls.js"

const ddl = `
-- Roles are cluster-wide: another database of the cluster (or a concurrent migration) may have created it.
DO $$
BEGIN
  CREATE ROLE ${APP_ROLE} NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
-- The login that runs migrations also serves requests and switches to the app role (-c role=…), so it needs
-- membership; a superuser has it implicitly.
DO $$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT ${APP_ROLE} TO %I', current_user);
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO ${APP_ROLE};

CREATE TABLE organizations (
  id text PRIMARY KEY,
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{2,48}$'),
  name text NOT NULL,
  retention_days integer NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 3650),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO organizations (id, slug, name) VALUES ('org_system', 'system', 'System');
${tenantPolicy("organizations", "id")}
${grant("organizations", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE users (
  id text PRIMARY KEY,
  email text NOT NULL,
  name text NOT NULL,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
${grant("users", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE organization_members (
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user_idx ON organization_members (user_id);
${tenantPolicy("organization_members")}
${grant("organization_members", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE sessions (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  user_agent text,
  ip text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
${grant("sessions", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE projects (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- the target of composite foreign keys: a child row can never point at another organization's project
  UNIQUE (organization_id, id),
  UNIQUE (organization_id, name)
);
${tenantPolicy("projects")}
${grant("projects", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  project_id text NOT NULL,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('write', 'full')),
  key_hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_by text REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_project_idx ON api_keys (organization_id, project_id, created_at, id);
${tenantPolicy("api_keys")}
${grant("api_keys", "SELECT, INSERT, UPDATE, DELETE")}

-- Pre-tenant lookups: the only ways to read tenant rows before a tenant is known. Each returns the minimum
-- needed to build a RequestContext, runs as the owner (no policy applies) and is callable by the app role.
CREATE FUNCTION threadline_api_key_by_hash(p_key_hash text)
RETURNS TABLE (id text, organization_id text, project_id text, type text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT k.id, k.organization_id, k.project_id, k.type FROM api_keys k
  WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
$$;

CREATE FUNCTION threadline_membership(p_org text, p_user_id text)
RETURNS TABLE (organization_id text, slug text, name text, retention_days integer, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT o.id, o.slug, o.name, o.retention_days, m.role
  FROM organizations o JOIN organization_members m ON m.organization_id = o.id
  WHERE (o.id = p_org OR o.slug = p_org) AND m.user_id = p_user_id
$$;

CREATE FUNCTION threadline_user_organizations(p_user_id text)
RETURNS TABLE (organization_id text, slug text, name text, retention_days integer, role text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT o.id, o.slug, o.name, o.retention_days, m.role, o.created_at
  FROM organizations o JOIN organization_members m ON m.organization_id = o.id
  WHERE m.user_id = p_user_id AND o.id <> 'org_system'
  ORDER BY o.created_at, o.id
$$;

REVOKE EXECUTE ON FUNCTION threadline_api_key_by_hash(text), threadline_membership(text, text),
  threadline_user_organizations(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION threadline_api_key_by_hash(text), threadline_membership(text, text),
  threadline_user_organizations(text) TO ${APP_ROLE};
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
