/**
 * The shapes a search answers with and the errors it can end in; shared by the Query service and the HTTP contract.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { Level } from "./Entry.js"

const Detail = Schema.Struct({ path: Schema.String, message: Schema.String })

/** 400; `details` names the parameter at fault (`{ path, message }`, as schema validation does). */
export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()(
  "InvalidQuery",
  { message: Schema.String, details: Schema.optional(Schema.Array(Detail)) },
  HttpApiSchema.annotations({ status: 400 })
) {
  /** "the parameter: why" as message, and the parameter in `details`. */
  static readonly of = (path: string, message: string) =>
    new InvalidQuery({ message: `${path}: ${message}`, details: [{ path, message }] })
}

/** 503: the search ran past its statement timeout; a narrower range (or more filters) makes it cheaper. */
export class QueryTimeout extends Schema.TaggedError<QueryTimeout>()(
  "QueryTimeout",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** 429: the organization already runs as many searches as it may at once here; `Retry-After` says when to retry. */
export class TooManySearches extends Schema.TaggedError<TooManySearches>()(
  "TooManySearches",
  { message: Schema.String, retryAfterSeconds: Schema.Number },
  HttpApiSchema.annotations({ status: 429 })
) {}

/** Unknown, or not visible to this tenant: the two are never told apart. */
export class ProjectNotFound extends Schema.TaggedError<ProjectNotFound>()(
  "ProjectNotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export const LogOut = Schema.Struct({
  id: Schema.String,
  time: Schema.String.annotations({ description: "ISO-8601 UTC, microseconds" }),
  project_id: Schema.String,
  service: Schema.String,
  level: Level,
  message: Schema.String,
  metadata: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  trace_id: Schema.NullOr(Schema.String),
  span_id: Schema.NullOr(Schema.String),
  session_id: Schema.NullOr(Schema.String)
}).annotations({ identifier: "LogRecord" })
export type LogOut = typeof LogOut.Type

export const SearchReply = Schema.Struct({
  logs: Schema.Array(LogOut),
  hasMore: Schema.Boolean,
  nextCursor: Schema.NullOr(Schema.String),
  limit: Schema.Number,
  offset: Schema.optional(Schema.Number),
  total: Schema.optional(
    Schema.Number.annotations({ description: "matching entries, counted exactly up to a bound (offset mode only)" })
  ),
  totalIsLowerBound: Schema.optional(
    Schema.Boolean.annotations({ description: "true when more entries match than were counted: `total` is a minimum" })
  )
}).annotations({ identifier: "LogSearchReply" })
export type SearchReply = typeof SearchReply.Type

export const LevelCounts = Schema.Struct({
  debug: Schema.Number,
  info: Schema.Number,
  warn: Schema.Number,
  error: Schema.Number,
  critical: Schema.Number
})

export const StatsReply = Schema.Struct({
  from: Schema.String,
  to: Schema.String,
  intervalSeconds: Schema.Number,
  buckets: Schema.Array(Schema.Struct({ time: Schema.String, total: Schema.Number, levels: LevelCounts }))
}).annotations({ identifier: "LogStatsReply" })
export type StatsReply = typeof StatsReply.Type
