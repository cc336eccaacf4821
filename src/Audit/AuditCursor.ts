/**
 * The opaque cursor of audit-log pages: the id of the last entry returned (ids grow with insertion, so "older
 * than the cursor" is `id < cursor`, exact and stable while rows are added).
 */
import { Data, Effect } from "effect"

export class InvalidAuditCursor extends Data.TaggedError("Audit/InvalidAuditCursor")<{ readonly message: string }> {}

const MAX_BIGINT = 9_223_372_036_854_775_807n

export const AuditCursor = {
  encode: (id: string): string => Buffer.from(`a:${id}`).toString("base64url"),
  decode: (cursor: string): Effect.Effect<string, InvalidAuditCursor> => {
    const text = Buffer.from(cursor, "base64url").toString()
    const match = /^a:([1-9][0-9]{0,18})$/.exec(text)
    // ids are Postgres bigints: 19 digits may still be past the largest, which the database would refuse
    return match?.[1] !== undefined && BigInt(match[1]) <= MAX_BIGINT
      ? Effect.succeed(match[1])
      : Effect.fail(new InvalidAuditCursor({ message: "cursor: not a cursor this API returned" }))
  }
} as const
