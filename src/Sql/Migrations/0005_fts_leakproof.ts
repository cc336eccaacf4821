/**
 * Lets the full-text GIN index work under row-level security. A policy is a security barrier: a query condition
 * whose functions are not LEAKPROOF may not run before the policy, so it cannot be an index condition, and
 * `to_tsvector(…) @@ tsquery` (to_tsvector(regconfig, text) and ts_match_vq) is not marked leakproof. Without this
 * the app role's full-text searches scan the project's rows instead of the GIN index (docs/storage.md: 0.6 ms as
 * the owner against ~2.3 s as the app role on a 195k-row project). Neither function raises an error or a notice
 * that depends on row content beyond length limits (messages are capped at 64 KiB on ingest), so marking them is
 * safe. Only a superuser may; another migrator gets a WARNING and full-text search stays correct but unindexed.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

const ddl = `
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION pg_catalog.to_tsvector(regconfig, text) LEAKPROOF;
    ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
  ELSE
    RAISE WARNING 'threadline: not a superuser, so full-text search cannot use its GIN index under row-level '
      'security; a superuser can run: ALTER FUNCTION pg_catalog.to_tsvector(regconfig, text) LEAKPROOF; '
      'ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;';
  END IF;
END $$;
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
