/**
 * Pages of the tenancy lists (organizations, members, projects, API keys), API.md "Lists page with an opaque
 * `cursor` and return `nextCursor`". The repositories return these lists whole, oldest first by (createdAt, id);
 * they are small (bounded by an organization's size and its API-key quota), so the page is cut here, keyset style:
 * the cursor is the (createdAt, id) of the last row returned, so a page stays exact while rows are added.
 */
import { Effect, Schema } from "effect"
import { BadRequest } from "../Http/Errors.js"

export const DEFAULT_PAGE_SIZE = 100
export const MAX_PAGE_SIZE = 200

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
  readonly at: Date
  readonly id: string
}

const encode = (p: Position) => Buffer.from(`l:${p.at.toISOString()}|${p.id}`).toString("base64url")

const decode = (cursor: string): Effect.Effect<Position, BadRequest> => {
  const match = /^l:([0-9T:.Z-]{20,30})\|([A-Za-z0-9_-]{1,100})$/.exec(Buffer.from(cursor, "base64url").toString())
  const at = match?.[1] === undefined ? null : new Date(match[1])
  return at !== null && match?.[2] !== undefined && !Number.isNaN(at.getTime())
    ? Effect.succeed({ at, id: match[2] })
    : Effect.fail(new BadRequest({ message: "cursor is not one this API returned" }))
}

const after = (row: Position, cursor: Position) =>
  row.at.getTime() > cursor.at.getTime() || (row.at.getTime() === cursor.at.getTime() && row.id > cursor.id)

/** One page of `rows` (oldest first) after `query.cursor`, and the cursor of the next page or null. */
export const pageOf = <A>(
  rows: ReadonlyArray<A>,
  query: ListQuery,
  position: (a: A) => Position
): Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly nextCursor: string | null }, BadRequest> =>
  Effect.gen(function* () {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE
    const from = query.cursor === undefined ? null : yield* decode(query.cursor)
    const sorted = [...rows].sort((a, b) => {
      const pa = position(a)
      const pb = position(b)
      return pa.at.getTime() - pb.at.getTime() || (pa.id < pb.id ? -1 : pa.id > pb.id ? 1 : 0)
    })
    const remaining = from === null ? sorted : sorted.filter((r) => after(position(r), from))
    const items = remaining.slice(0, limit)
    const last = items[items.length - 1]
    return { items, nextCursor: remaining.length > limit && last !== undefined ? encode(position(last)) : null }
  })
