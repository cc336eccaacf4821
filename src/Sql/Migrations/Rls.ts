/**
 * SQL snippets shared by the migrations (this file is not a migration: the loader only runs `NNNN_name.ts`).
 * Changing a snippet changes what a fresh database gets, never what an applied migration did: add a new
 * migration for existing databases instead.
 */

/** The non-owner role runtime connections act as, so that row-level security applies to them. */
export const APP_ROLE = "threadline_app"

/** The per-transaction setting that carries the tenant; `true` = missing_ok, so an unset value reads NULL. */
export const TENANT_EXPR = "current_setting('threadline.organization_id', true)"

/**
 * Enables and forces nothing but the tenant policy on `table`: the app role sees and writes only rows whose
 * `column` equals the transaction's organization. The owner (migrations, the named bypass) is not subject to it.
 */
export const tenantPolicy = (table: string, column = "organization_id"): string => `
ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY ${table}_tenant ON ${table}
  USING (${column} = ${TENANT_EXPR})
  WITH CHECK (${column} = ${TENANT_EXPR});
`

/** Grants the app role the listed privileges on `table` (nothing is granted by default). */
export const grant = (table: string, privileges: string): string => `GRANT ${privileges} ON ${table} TO ${APP_ROLE};\n`
