/**
 * sqlcommenter: every statement run inside a unit of work ends with
 * `/*organization_id='…',project_id='…',request_id='…',traceparent='…'*\/` (keys sorted, values URL-encoded,
 * `'` escaped), so a slow query in the server log or pg_stat_activity leads back to its request.
 *
 * Installed once, as a statement transformer, by the client layers (Client.ts, test/support/Database.ts).
 * Values enter the SQL text as a literal, never as a bind parameter: a `$n` inside a comment shifts the parameter
 * count. Literal text is safe here because the encoding leaves no `/`, so no value can open or close a comment.
 * @effect/sql-pg sends unnamed (unprepared) statements, so a comment that changes per request does not create
 * one prepared statement per request (test/Sql/Comment.test.ts holds the proof).
 */
import type { Statement } from "@effect/sql"
import { Statement as S } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { RequestContext, type RequestContextData } from "../RequestContext.js"

/** sqlcommenter value encoding: URL-encode (which also encodes `/`, so `*\/` and `/*` cannot appear), escape `'`. */
export const encodeValue = (value: string): string => encodeURIComponent(value).replace(/'/g, "\\'")

/** The comment for a context; keys in sorted order, absent values omitted. */
export const commentFor = (ctx: RequestContextData): string => {
  let out = `/*organization_id='${encodeValue(ctx.organizationId)}'`
  if (ctx.projectId !== null) out += `,project_id='${encodeValue(ctx.projectId)}'`
  out += `,request_id='${encodeValue(ctx.requestId)}'`
  if (ctx.traceparent !== undefined) out += `,traceparent='${encodeValue(ctx.traceparent)}'`
  return out + "*/"
}

/** A statement whose text already ends with a block comment is left alone (it was commented by hand or twice). */
const endsWithComment = (self: Statement.Statement<unknown>): boolean => {
  const last = self.segments[self.segments.length - 1]
  return last !== undefined && last._tag === "Literal" && last.value.trimEnd().endsWith("*/")
}

export const sqlCommenter: Statement.Statement.Transformer = (self, sql, refs) => {
  const ctx = RequestContext.fromFiberRefs(refs)
  if (Option.isNone(ctx) || endsWithComment(self)) return Effect.succeed(self)
  return Effect.succeed(sql`${self} ${sql.literal(commentFor(ctx.value))}`)
}

/** The layer that installs the transformer for every fiber run under it. */
export const SqlCommentLive: Layer.Layer<never> = S.setTransformer(sqlCommenter)
