/**
 * `logs`, range-partitioned by `time` into daily (UTC) partitions plus a default partition, and
 * `logs_maintenance(now)`, the function the retention job calls through `Tenant.bypass`: it creates the upcoming
 * partitions, drops partitions past every organization's retention and deletes the remaining expired rows.
 * Index choices are justified with EXPLAIN output in docs/storage.md.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { grant, tenantPolicy } from "./Rls.js"

const ddl = `
CREATE TABLE logs (
  id bigint GENERATED ALWAYS AS IDENTITY,
  time timestamptz NOT NULL,
  organization_id text NOT NULL,
  project_id text NOT NULL,
  service text NOT NULL,
  level text NOT NULL,
  message text NOT NULL,
  metadata jsonb,
  trace_id text,
  span_id text,
  session_id text,
  received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (time);
CREATE TABLE logs_default PARTITION OF logs DEFAULT;

-- recent-first keyset pages of one project: ORDER BY time DESC, id DESC, (time, id) < cursor
CREATE INDEX logs_project_time_idx ON logs (project_id, time DESC, id DESC);
-- level and service filters keep the same order, so a filtered page is still a bounded index range scan
CREATE INDEX logs_project_level_time_idx ON logs (project_id, level, time DESC, id DESC);
CREATE INDEX logs_project_service_time_idx ON logs (project_id, service, time DESC, id DESC);
-- full-text search on the message (Filters.ts uses to_tsvector('simple', message) @@ websearch_to_tsquery)
CREATE INDEX logs_message_fts_idx ON logs USING gin (to_tsvector('simple', message));
-- GET /logs/trace/{traceId}
CREATE INDEX logs_trace_idx ON logs (trace_id) WHERE trace_id IS NOT NULL;

${tenantPolicy("logs")}
-- Tenants only append and read; deleting is retention's job (owner, via the bypass). Partitions get no grants, so
-- the app role reaches rows only through the parent, where the policy applies.
${grant("logs", "SELECT, INSERT")}

CREATE FUNCTION logs_ensure_partition(p_day date) RETURNS boolean
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_name text := 'logs_p' || to_char(p_day, 'YYYYMMDD');
  v_from timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
  v_to timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
  v_moved logs[];
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN
    RETURN false;
  END IF;
  -- Rows that arrived before their day had a partition wait in the default one; a new partition may not overlap
  -- rows of the default partition, so they move into it (keeping their ids).
  WITH moved AS (DELETE FROM logs_default WHERE time >= v_from AND time < v_to RETURNING *)
  SELECT array_agg(ROW(moved.*)::logs) INTO v_moved FROM moved;
  EXECUTE format('CREATE TABLE %I PARTITION OF logs FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
  IF v_moved IS NOT NULL THEN
    INSERT INTO logs OVERRIDING SYSTEM VALUE SELECT * FROM unnest(v_moved);
  END IF;
  RETURN true;
END $$;

CREATE FUNCTION logs_maintenance(p_now timestamptz DEFAULT now(), p_days_ahead integer DEFAULT 3)
RETURNS TABLE (deleted_rows bigint, dropped_partitions integer, created_partitions integer)
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_today date := (p_now AT TIME ZONE 'UTC')::date;
  v_longest integer;
  v_shortest integer;
  v_day date;
  r record;
BEGIN
  -- two schedulers ticking at once must not both create the same partition
  PERFORM pg_advisory_xact_lock(724200002);
  deleted_rows := 0;
  dropped_partitions := 0;
  created_partitions := 0;
  FOR i IN 0 .. p_days_ahead LOOP
    IF logs_ensure_partition(v_today + i) THEN
      created_partitions := created_partitions + 1;
    END IF;
  END LOOP;

  SELECT max(o.retention_days), min(o.retention_days) INTO v_longest, v_shortest FROM organizations o;
  -- a whole day older than the longest retention holds nothing any organization keeps: drop it, no row scan
  FOR r IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'logs'::regclass AND c.relname ~ '^logs_p[0-9]{8}$'
  LOOP
    v_day := to_date(substr(r.relname, 7), 'YYYYMMDD');
    IF (v_day + 1)::timestamp AT TIME ZONE 'UTC' <= p_now - make_interval(days => v_longest) THEN
      EXECUTE format('DROP TABLE %I', r.relname);
      dropped_partitions := dropped_partitions + 1;
    END IF;
  END LOOP;

  -- the rest expires per organization; rows of a deleted organization expire at once
  DELETE FROM logs l
  WHERE l.time < p_now - make_interval(days => v_shortest)
    AND l.time < p_now - make_interval(days => coalesce(
      (SELECT o.retention_days FROM organizations o WHERE o.id = l.organization_id), 0));
  GET DIAGNOSTICS deleted_rows = ROW_COUNT;
  RETURN NEXT;
END $$;
REVOKE EXECUTE ON FUNCTION logs_ensure_partition(date), logs_maintenance(timestamptz, integer) FROM PUBLIC;

SELECT logs_maintenance(now());
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
