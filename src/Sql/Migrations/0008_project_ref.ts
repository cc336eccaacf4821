/**
 * Resolves a project to its organization before any tenant is known: a session on the logs routes names only the
 * project, so its organization (and then the user's membership there) must be found outside row-level security.
 * The lookup reveals only that a project id exists; the caller answers "not found" unless the user is a member.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { APP_ROLE } from "./Rls.js"

const ddl = `
CREATE FUNCTION threadline_project_ref(p_project text) RETURNS TABLE (id text, organization_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT p.id, p.organization_id FROM projects p WHERE p.id = p_project AND p.organization_id <> 'org_system'
$$;
REVOKE EXECUTE ON FUNCTION threadline_project_ref(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION threadline_project_ref(text) TO ${APP_ROLE};
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
