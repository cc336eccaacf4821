/**
 * Replies and errors of the read routes beside search: aggregated stats (the LogTide SDK's
 * `getAggregatedStats` shape), one entry, the entries around one, and the services of a project.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { LogOut } from "./QueryTypes.js"

/** Unknown, forged, or another tenant's: never told apart. */
export class LogNotFound extends Schema.TaggedError<LogNotFound>()(
  "LogNotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** Bucket widths of `GET /logs/aggregated`, in seconds. */
export const AGGREGATE_INTERVALS = { "1m": 60, "5m": 300, "1h": 3600, "1d": 86_400 } as const
export type AggregateInterval = keyof typeof AGGREGATE_INTERVALS
export const MAX_AGGREGATE_BUCKETS = 10_000
export const TOP_LIMIT = 10
export const MAX_CONTEXT = 100
export const DEFAULT_CONTEXT = 10
export const MAX_SERVICES = 1000

export const AggregatedReply = Schema.Struct({
  timeseries: Schema.Array(
    Schema.Struct({
      bucket: Schema.String.annotations({ description: "start of the bucket, ISO-8601 UTC" }),
      total: Schema.Number,
      by_level: Schema.Record({ key: Schema.String, value: Schema.Number }).annotations({
        description: "every level, zero included"
      })
    })
  ).annotations({ description: "buckets holding at least one entry, oldest first" }),
  top_services: Schema.Array(Schema.Struct({ service: Schema.String, count: Schema.Number })).annotations({
    description: `at most ${TOP_LIMIT}, most entries first`
  }),
  top_errors: Schema.Array(Schema.Struct({ message: Schema.String, count: Schema.Number })).annotations({
    description: `messages of error and critical entries, at most ${TOP_LIMIT}, most frequent first`
  })
}).annotations({ identifier: "LogAggregatedReply" })
export type AggregatedReply = typeof AggregatedReply.Type

export const ContextReply = Schema.Struct({
  before: Schema.Array(LogOut).annotations({ description: "entries just before, oldest first" }),
  log: LogOut,
  after: Schema.Array(LogOut).annotations({ description: "entries just after, oldest first" })
}).annotations({ identifier: "LogContextReply" })
export type ContextReply = typeof ContextReply.Type

export const ServicesReply = Schema.Struct({
  services: Schema.Array(Schema.Struct({ service: Schema.String, count: Schema.Number })).annotations({
    description: `at most ${MAX_SERVICES}, most entries first`
  })
}).annotations({ identifier: "LogServicesReply" })
export type ServicesReply = typeof ServicesReply.Type
