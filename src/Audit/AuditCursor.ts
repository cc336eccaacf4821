/**
 * The opaque cursor of audit-log pages: the id of the last entry returned (ids grow with insertion, so "older
 * than the cursor" is `id < cursor`, exact and stable while rows are added).
 */
import { Data, Effect } from "effect"

export class InvalidAuditCursor extends Data.TaggedError("Audit/InvalidAuditCursor")<{ readonly message: string }> {}

export const AuditCursor = {
  encode: (id: string): string => Buffer.from(`a:${id}`).toString("base64url"),
  decode: (cursor: string): Effect.Effect<string, InvalidAuditCursor> => {
    const text = Buffer.from(cursor, "base64url").toString()
    const match = /^a:([1-9][0-9]{0,18})$/.exec(text)
    return match?.[1] !== undefined
      ? Effect.succeed(match[1])
      : Effect.fail(new InvalidAuditCursor({ message: "cursor is not one this API returned" }))
  }
} as const
