/**
 * SQL snippets shared by the migrations (this file is not a migration: the loader only runs `NNNN_name.ts`).
 * Changing a snippet changes what a fresh database gets, never what an applied migration did: add a new
 * migration for existing databases instead.
 */

/**
 * The application's login (DATABASE_URL): LOGIN, NOINHERIT, not a superuser, no BYPASSRLS, a member of no role and
 * the owner of nothing, so row-level security applies to everything the application runs (0014).
 */
export const APP_ROLE = "threadline_app"

/** The per-transaction setting that carries the tenant; `true` = missing_ok, so an unset value reads NULL. */
const TENANT_EXPR = "current_setting('threadline.organization_id', true)"

/**
 * Enables and forces the tenant policy on `table`: the app role sees and writes only rows whose `column` equals the
 * transaction's organization. FORCE subjects the table's owner too; the owner login (migrations, the named bypass,
 * SECURITY DEFINER lookups) passes only because it is a superuser or has BYPASSRLS (checked by 0014).
 */
export const tenantPolicy = (table: string, column = "organization_id"): string => `
ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${table}_tenant ON ${table}
  USING (${column} = ${TENANT_EXPR})
  WITH CHECK (${column} = ${TENANT_EXPR});
`

/** Grants the app role the listed privileges on `table` (nothing is granted by default). */
export const grant = (table: string, privileges: string): string => `GRANT ${privileges} ON ${table} TO ${APP_ROLE};\n`
