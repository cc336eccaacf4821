/**
 * Row-level security enforced, not only enabled: FORCE on every table that has RLS (whichever migration added it),
 * and `threadline_app` becomes the application's own login (LOGIN NOINHERIT, no privilege, member of nothing).
 * The owner running this must be a superuser or have BYPASSRLS: FORCE would otherwise hide every row from the
 * audited bypass and the SECURITY DEFINER lookups. The app login's password is set by the deployment, never here.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { APP_ROLE } from "./Rls.js"

const ddl = `
DO $$
DECLARE
  r record;
BEGIN
  IF NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'the migration login % must be a superuser or have BYPASSRLS (row-level security is forced on '
      'the owner too): as a superuser run ALTER ROLE % BYPASSRLS', current_user, current_user;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
    CREATE ROLE ${APP_ROLE} LOGIN NOINHERIT;
  END IF;
  ALTER ROLE ${APP_ROLE} LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  -- the app login may not act as any other role (SET ROLE to the owner would leave the policies behind)
  FOR r IN SELECT m.roleid::regrole::text AS granted FROM pg_auth_members m
    WHERE m.member = '${APP_ROLE}'::regrole
  LOOP
    EXECUTE format('REVOKE %s FROM ${APP_ROLE}', r.granted);
  END LOOP;

  FOR r IN SELECT c.oid::regclass::text AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relrowsecurity AND NOT c.relforcerowsecurity AND c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  LOOP
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', r.rel);
  END LOOP;
END $$;
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
