/**
 * What the limits area still needed from storage:
 * - `usage_counters.jobs`: jobs enqueued on behalf of an organization this month (job attribution);
 * - `organization_storage`: each organization's stored log bytes, measured by the maintenance run. The logs table
 *   is partitioned by time, not by tenant, so a tenant's share cannot be read from relation sizes; measuring it is
 *   a scan of every row, which belongs in the scheduled maintenance (system work, through the bypass), never in a
 *   request. The quota check reads the last measurement (src/Limits/README.md states the staleness bound).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { grant, tenantPolicy } from "./Rls.js"

const ddl = `
ALTER TABLE usage_counters ADD COLUMN jobs bigint NOT NULL DEFAULT 0;

CREATE TABLE organization_storage (
  organization_id text PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  bytes bigint NOT NULL CHECK (bytes >= 0),
  measured_at timestamptz NOT NULL DEFAULT now()
);
${tenantPolicy("organization_storage")}
${grant("organization_storage", "SELECT")}

-- Every organization's stored bytes (pg_column_size of its rows, i.e. their size on disk before TOAST compression
-- of small values), one statement for all. Called by the maintenance run after retention, as the owner.
CREATE FUNCTION logs_measure_storage() RETURNS integer
LANGUAGE sql SET search_path = public, pg_temp AS $$
  WITH measured AS (
    INSERT INTO organization_storage (organization_id, bytes, measured_at)
    SELECT o.id, coalesce(s.bytes, 0), now()
    FROM organizations o
    LEFT JOIN (SELECT l.organization_id, sum(pg_column_size(l.*))::bigint AS bytes FROM logs l GROUP BY 1) s
      ON s.organization_id = o.id
    ON CONFLICT (organization_id) DO UPDATE SET bytes = EXCLUDED.bytes, measured_at = EXCLUDED.measured_at
    RETURNING 1
  )
  SELECT count(*)::int FROM measured
$$;
REVOKE EXECUTE ON FUNCTION logs_measure_storage() FROM PUBLIC;
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
