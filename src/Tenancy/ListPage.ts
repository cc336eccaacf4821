/**
 * Pages of the tenancy lists (organizations, members, projects, API keys), API.md "Lists page with an opaque
 * `cursor` and return `nextCursor`". Keyset pages cut in SQL (src/Sql/Keyset.ts): the cursor is the (created_at, id)
 * of the last row returned, with created_at at the microsecond as Postgres stores it, so a page stays exact while
 * rows are added and a list of any length costs one page of rows per request.
 */
import { Effect, Schema } from "effect"
import { BadRequest } from "../Http/Errors.js"
import type { KeysetPage } from "../Sql/Keyset.js"

const DEFAULT_PAGE_SIZE = 100
const MAX_PAGE_SIZE = 200

export const ListQuery = Schema.Struct({
  cursor: Schema.optional(
    Schema.String.pipe(Schema.maxLength(300)).annotations({ description: "the `nextCursor` of the previous page" })
  ),
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, MAX_PAGE_SIZE)).annotations({
      description: `page size, 1..${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE})`
    })
  )
}).annotations({ parseOptions: { errors: "all" as const } })
export type ListQuery = typeof ListQuery.Type

interface Position {
  /** ISO 8601, UTC; microseconds for cursors this version returns (milliseconds for older ones, still accepted). */
  readonly at: string
  readonly id: string
}

const encode = (p: Position) => Buffer.from(`l:${p.at}|${p.id}`).toString("base64url")

/**
 * A calendar instant Postgres accepts as it is written: `Date` rolls `02-30` over into March and takes year 0, which
 * `timestamptz` refuses (a 500 from a hand-made cursor, where a 400 is due).
 */
const isRealInstant = (iso: string): boolean => {
  const date = new Date(iso)
  return (
    !Number.isNaN(date.getTime()) && date.getUTCFullYear() >= 1 && date.toISOString().slice(0, 19) === iso.slice(0, 19)
  )
}

const decode = (cursor: string): Effect.Effect<Position, BadRequest> => {
  const match = /^l:(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z)\|([A-Za-z0-9_-]{1,100})$/.exec(
    Buffer.from(cursor, "base64url").toString()
  )
  const at = match?.[1]
  const id = match?.[2]
  return at !== undefined && id !== undefined && isRealInstant(at)
    ? Effect.succeed({ at, id })
    : Effect.fail(new BadRequest({ message: "cursor is not one this API returned" }))
}

/** What to ask the repository for: the rows after the cursor, one more than the page shows. */
export const pageRequest = (query: ListQuery): Effect.Effect<KeysetPage, BadRequest> =>
  Effect.map(query.cursor === undefined ? Effect.succeed(undefined) : decode(query.cursor), (after) => ({
    after,
    limit: (query.limit ?? DEFAULT_PAGE_SIZE) + 1
  }))

/** The page shown from what `pageRequest` fetched, and the cursor of the next page or null. */
export const pageOf = <A extends { readonly cursorAt: string }>(
  rows: ReadonlyArray<A>,
  request: KeysetPage,
  idOf: (a: A) => string
): { readonly items: ReadonlyArray<A>; readonly nextCursor: string | null } => {
  const items = rows.slice(0, request.limit - 1)
  const last = items[items.length - 1]
  return {
    items,
    nextCursor:
      rows.length >= request.limit && last !== undefined ? encode({ at: last.cursorAt, id: idOf(last) }) : null
  }
}
