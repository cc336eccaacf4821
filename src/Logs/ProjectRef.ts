/**
 * PRE-TENANT: the organization a project belongs to, through the SECURITY DEFINER function of migration 0008
 * (`threadline_project_ref`). Needed when a session names a project on a route without `{org}`: its context is
 * `org_system` (docs/decisions.md D6), under which row-level security hides every project.
 */
import type { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"

export interface ProjectRef {
  readonly id: string
  readonly organizationId: string
}

export const projectRef = (sql: SqlClient.SqlClient, projectId: string) =>
  sql<ProjectRef>`SELECT id, organization_id FROM threadline_project_ref(${projectId})`.pipe(
    Effect.map((rows) => Option.fromNullable(rows[0])),
    Effect.orDie,
    Effect.withSpan("Logs.projectRef")
  )
