/**
 * The audit log (append-only for the app role), monthly usage counters and per-organization limit overrides.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { grant, tenantPolicy } from "./Rls.js"

const ddl = `
CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- no foreign key: the trail of an organization outlives the organization
  organization_id text NOT NULL,
  project_id text,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system')),
  actor_id text,
  actor_reason text,
  action text NOT NULL,
  target_type text NOT NULL,
  target_id text,
  changes jsonb,
  request_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK ((actor_type = 'system') = (actor_id IS NULL)),
  CHECK (actor_type = 'system' OR actor_reason IS NULL)
);
-- listing: newest first (id order = insertion order) per organization, optionally narrowed by action
CREATE INDEX audit_log_org_idx ON audit_log (organization_id, id DESC);
CREATE INDEX audit_log_org_action_idx ON audit_log (organization_id, action, id DESC);
CREATE INDEX audit_log_request_idx ON audit_log (request_id);
${tenantPolicy("audit_log")}
${grant("audit_log", "SELECT, INSERT")}

CREATE TABLE usage_counters (
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  -- first day of the month (UTC)
  month date NOT NULL CHECK (extract(day FROM month) = 1),
  ingest_events bigint NOT NULL DEFAULT 0,
  ingest_bytes bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, month)
);
${tenantPolicy("usage_counters")}
${grant("usage_counters", "SELECT, INSERT, UPDATE")}

-- NULL = the configured default. Only platform administrators change these rows (checked by the service).
CREATE TABLE organization_limits (
  organization_id text PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  requests_per_minute integer CHECK (requests_per_minute >= 0),
  api_key_requests_per_minute integer CHECK (api_key_requests_per_minute >= 0),
  ingest_events_per_month bigint CHECK (ingest_events_per_month >= 0),
  ingest_bytes_per_month bigint CHECK (ingest_bytes_per_month >= 0),
  storage_bytes bigint CHECK (storage_bytes >= 0),
  alert_rules integer CHECK (alert_rules >= 0),
  api_keys integer CHECK (api_keys >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text
);
${tenantPolicy("organization_limits")}
${grant("organization_limits", "SELECT, INSERT, UPDATE, DELETE")}
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
