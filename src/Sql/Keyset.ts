/**
 * Keyset pages for the tenancy lists, in SQL: rows ordered by (created_at, id), a page is the rows after a position,
 * at most `limit` of them (callers ask for one more than they show, to know whether a next page exists). The
 * position's time is the row's `created_at` as Postgres has it (microseconds, UTC), returned with each row as
 * `cursorAt`: a JavaScript Date keeps milliseconds only, and two rows created within one millisecond would otherwise
 * compare equal to the position and be shown twice or skipped.
 */
import type { SqlClient } from "@effect/sql"
import { Schema } from "effect"

export interface KeysetPage {
  /** The (created_at, id) of the last row already shown; undefined for the first page. */
  readonly after: { readonly at: string; readonly id: string } | undefined
  readonly limit: number
}

/** The page position every paged row carries: its `created_at`, ISO 8601 in UTC with microseconds. */
export const CursorAt = Schema.String

/** `<timestamp column> AS cursor_at`, the column expression of a paged query (`column` is a constant of the caller). */
export const cursorAt = (sql: SqlClient.SqlClient, column: string) =>
  sql.literal(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`)

/** The keyset condition `(at, id) > (position)`, or TRUE on the first page. */
export const after = (sql: SqlClient.SqlClient, page: KeysetPage, atColumn: string, idColumn: string) =>
  page.after === undefined
    ? sql.literal("TRUE")
    : sql`(${sql.literal(atColumn)}, ${sql.literal(idColumn)}) > (${page.after.at}::timestamptz, ${page.after.id})`
