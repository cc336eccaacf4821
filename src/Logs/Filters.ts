/**
 * Search filters shared by the list, stats and trace queries, compiled to one WHERE fragment with parameters.
 * Full text uses the expression the GIN index is built on (`to_tsvector('simple', message)`), so the planner can use
 * it; substring mode is an ILIKE whose pattern characters in the user's text are escaped.
 */
import type { Statement } from "@effect/sql"
import type { Level } from "./Entry.js"

export type SearchMode = "fulltext" | "substring"

export interface Filters {
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  readonly levels?: ReadonlyArray<Level> | undefined
  readonly services?: ReadonlyArray<string> | undefined
  readonly traceId?: string | undefined
  readonly q?: string | undefined
  readonly searchMode?: SearchMode | undefined
}

/** `%`, `_` and the escape character itself match literally. */
export const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`)

/** The WHERE clauses for one project; the organization is also enforced by row-level security. */
export const whereClauses = (
  sql: Statement.Constructor,
  organizationId: string,
  projectId: string,
  f: Filters
): Array<Statement.Fragment> => {
  const clauses: Array<Statement.Fragment> = [sql`organization_id = ${organizationId}`, sql`project_id = ${projectId}`]
  if (f.from !== undefined) clauses.push(sql`time >= ${f.from}`)
  if (f.to !== undefined) clauses.push(sql`time < ${f.to}`)
  if (f.levels !== undefined && f.levels.length > 0) clauses.push(sql`level = ANY(${f.levels}::text[])`)
  if (f.services !== undefined && f.services.length > 0) clauses.push(sql`service = ANY(${f.services}::text[])`)
  if (f.traceId !== undefined) clauses.push(sql`trace_id = ${f.traceId}`)
  if (f.q !== undefined && f.q.trim().length > 0) {
    clauses.push(
      f.searchMode === "substring"
        ? sql`message ILIKE ${`%${escapeLike(f.q)}%`} ESCAPE '\\'`
        : sql`to_tsvector('simple', message) @@ websearch_to_tsquery('simple', ${f.q})`
    )
  }
  return clauses
}
