/**
 * The tenancy lists page in SQL, keyset style on (created_at, id) within an organization (src/Sql/Keyset.ts): these
 * indexes let a page of projects or members be read in order and stop after `limit` rows instead of sorting every
 * row of the organization. API keys already have `api_keys_project_idx (organization_id, project_id, created_at, id)`.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

const ddl = `
CREATE INDEX projects_list_idx ON projects (organization_id, created_at, id);
CREATE INDEX organization_members_list_idx ON organization_members (organization_id, created_at, user_id);
`

export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(ddl))
