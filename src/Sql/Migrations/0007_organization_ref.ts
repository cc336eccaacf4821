/**
 * Resolves `{org}` (id or slug) before any tenant is known, without a user: the HTTP layer's stale-while-revalidate
 * cache maps a slug to its organization, then checks membership separately (never cached).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { APP_ROLE } from "./Rls.js"

const ddl = `
CREATE FUNCTION threadline_organization_ref(p_org text) RETURNS TABLE (id text, slug text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT o.id, o.slug FROM organizations o WHERE (o.id = p_org OR o.slug = p_org) AND o.id <> 'org_system'
$$;
REVOKE EXECUTE ON FUNCTION threadline_organization_ref(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION threadline_organization_ref(text) TO ${APP_ROLE};
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
