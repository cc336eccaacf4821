/**
 * Alert rules, the events they trigger, and the webhook deliveries (one row per delivery, one row per attempt).
 * Child rows carry `organization_id` themselves so each table has its own tenant policy, and composite foreign
 * keys keep a child in its parent's organization.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { grant, tenantPolicy } from "./Rls.js"

const ddl = `
CREATE TABLE alert_rules (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  project_id text,
  name text NOT NULL,
  service text,
  levels text[] NOT NULL DEFAULT '{}',
  query text,
  threshold integer NOT NULL CHECK (threshold >= 1),
  window_minutes integer NOT NULL CHECK (window_minutes >= 1),
  cooldown_minutes integer NOT NULL DEFAULT 15 CHECK (cooldown_minutes >= 0),
  enabled boolean NOT NULL DEFAULT true,
  webhook_url text NOT NULL,
  -- AES-256-GCM (iv || ciphertext || tag) of the signing secret; never stored in clear
  webhook_secret_ciphertext bytea,
  last_triggered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX alert_rules_org_idx ON alert_rules (organization_id, created_at, id);
-- the evaluation tick lists enabled rules of every organization (through the bypass)
CREATE INDEX alert_rules_enabled_idx ON alert_rules (organization_id, id) WHERE enabled;
${tenantPolicy("alert_rules")}
${grant("alert_rules", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE alert_events (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  project_id text,
  rule_id text,
  rule_name text NOT NULL,
  count integer NOT NULL,
  threshold integer NOT NULL,
  window_minutes integer NOT NULL,
  window_from timestamptz NOT NULL,
  window_to timestamptz NOT NULL,
  triggered_at timestamptz NOT NULL DEFAULT now(),
  request_id text,
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, rule_id) REFERENCES alert_rules (organization_id, id) ON DELETE SET NULL (rule_id)
);
CREATE INDEX alert_events_org_idx ON alert_events (organization_id, triggered_at DESC, id DESC);
CREATE INDEX alert_events_rule_idx ON alert_events (rule_id, triggered_at DESC);
${tenantPolicy("alert_events")}
${grant("alert_events", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE webhook_deliveries (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  project_id text,
  alert_event_id text,
  rule_id text,
  url text NOT NULL,
  event_type text NOT NULL DEFAULT 'alert.triggered',
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  last_status integer,
  last_error text,
  next_attempt_at timestamptz,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, alert_event_id) REFERENCES alert_events (organization_id, id)
    ON DELETE SET NULL (alert_event_id),
  FOREIGN KEY (organization_id, rule_id) REFERENCES alert_rules (organization_id, id) ON DELETE SET NULL (rule_id)
);
CREATE INDEX webhook_deliveries_org_idx ON webhook_deliveries (organization_id, created_at DESC, id DESC);
-- the retry sweep: due deliveries of every organization (through the bypass)
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
${tenantPolicy("webhook_deliveries")}
${grant("webhook_deliveries", "SELECT, INSERT, UPDATE, DELETE")}

CREATE TABLE webhook_attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id text NOT NULL,
  delivery_id text NOT NULL,
  attempt integer NOT NULL,
  status_code integer,
  duration_ms integer NOT NULL,
  error text,
  request_id text,
  attempted_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, delivery_id) REFERENCES webhook_deliveries (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);
${tenantPolicy("webhook_attempts")}
${grant("webhook_attempts", "SELECT, INSERT")}
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
