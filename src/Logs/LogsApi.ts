/**
 * HTTP contract of the logs area (API.md): ingestion (LogTide-compatible and OTLP/HTTP) and search.
 * Two groups because they authenticate differently: ingestion takes any API key of the project (write or full),
 * search takes a full key or a session. The authentication middleware is attached where the groups are added to
 * the Api (src/Http/Api.ts), so this file stays free of the HTTP area's internals.
 *
 * The ingest endpoints declare their payloads for the OpenAPI document, but their handlers read the raw body
 * (`handleRaw`): limits, content type, gzip and per-entry validation must be decided before any decoding.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { InvalidBody, PayloadTooLarge, UnsupportedMediaType } from "./Body.js"
import { Level, LogEntry } from "./Entry.js"
import { TooManyEntries } from "./Ingest.js"
import {
  InvalidQuery,
  LogOut,
  ProjectNotFound,
  QueryTimeout,
  SearchReply,
  StatsReply,
  TooManySearches
} from "./QueryTypes.js"
import { QuotaExceeded } from "./Quota.js"
import {
  AGGREGATE_INTERVALS,
  AggregatedReply,
  ContextReply,
  LogNotFound,
  MAX_CONTEXT,
  MAX_SERVICES,
  ServicesReply
} from "./ReadTypes.js"
import { MAX_INTERVAL_SECONDS } from "./Stats.js"

export const IngestBody = Schema.Union(
  Schema.Struct({ logs: Schema.Array(LogEntry) }),
  Schema.Array(LogEntry)
).annotations({ description: '`{ "logs": [entry, ...] }` or a bare array; at most 10,000 entries and 10 MiB' })

export const IngestReply = Schema.Struct({
  received: Schema.Number,
  rejected: Schema.optional(
    Schema.Array(Schema.Struct({ index: Schema.Number, reason: Schema.String })).annotations({
      description: "entries refused on their own; the others were stored"
    })
  ),
  timestamp: Schema.String
}).annotations({ identifier: "IngestReply" })
export type IngestReply = typeof IngestReply.Type

/** OTLP/JSON ExportLogsServiceRequest (opentelemetry-proto JSON mapping); described, validated by the handler. */
const OtlpJson = Schema.Struct({ resourceLogs: Schema.Array(Schema.Unknown) }).annotations({
  identifier: "ExportLogsServiceRequest"
})
const OtlpProtobuf = HttpApiSchema.Uint8Array({ contentType: "application/x-protobuf" })
const OtlpReply = Schema.Struct({
  partialSuccess: Schema.optional(Schema.Struct({ rejectedLogRecords: Schema.Number, errorMessage: Schema.String }))
}).annotations({ identifier: "ExportLogsServiceResponse" })

const repeatable = <A, I>(item: Schema.Schema<A, I>) => Schema.optional(Schema.Union(Schema.Array(item), item))
/** Years 1–9999: beyond, Postgres refuses the timestamp (found by `npm run verify`'s fuzzing as a 503). */
const IsoDate = Schema.Date.pipe(
  Schema.filter((d) => {
    const year = d.getUTCFullYear()
    return (year >= 1 && year <= 9999) || "must be a date between the years 1 and 9999"
  })
).annotations({ description: "ISO-8601 date-time (years 1–9999)" })
const IntFromString = Schema.NumberFromString.pipe(Schema.int())
/** Text Postgres can hold: no NUL character (it would be refused by the database, not by the request's check). */
const Text = (min: number, max: number) =>
  Schema.String.pipe(
    Schema.minLength(min),
    Schema.maxLength(max),
    Schema.filter((s) => !s.includes("\u0000") || "must not contain NUL characters")
  )

const Filters = {
  projectId: Schema.optional(Text(1, 128)).annotations({
    description: "required with a session; with an API key it must be the key's project or absent"
  }),
  from: Schema.optional(IsoDate),
  to: Schema.optional(IsoDate),
  level: repeatable(Level),
  service: repeatable(Text(1, 100)),
  traceId: Schema.optional(Text(1, 128)),
  q: Schema.optional(Text(0, 1000)),
  searchMode: Schema.optional(Schema.Literal("fulltext", "substring"))
}

export const SearchUrlParams = Schema.Struct({
  ...Filters,
  limit: Schema.optional(IntFromString.pipe(Schema.between(1, 1000))),
  cursor: Schema.optional(Text(1, 512)),
  offset: Schema.optional(IntFromString.pipe(Schema.between(0, 100_000)))
  // every failing parameter in `details`, not only the first
}).annotations({ parseOptions: { errors: "all" } })
export type SearchUrlParams = typeof SearchUrlParams.Type

export const StatsUrlParams = Schema.Struct({
  ...Filters,
  interval: Schema.optional(IntFromString.pipe(Schema.between(1, MAX_INTERVAL_SECONDS))).annotations({
    description: "bucket width in seconds (at most a year); default: about 60 buckets over the range"
  })
}).annotations({ parseOptions: { errors: "all" } })
export type StatsUrlParams = typeof StatsUrlParams.Type

// --- read routes beside search (src/Logs/Read.ts): aggregated stats, one entry, its context, the services ---
const ReadScope = {
  projectId: Filters.projectId,
  from: Schema.optional(IsoDate).annotations({ description: "default: a day before `to`" }),
  to: Schema.optional(IsoDate).annotations({ description: "default: now" })
}

export const AggregatedUrlParams = Schema.Struct({
  ...ReadScope,
  interval: Schema.optional(
    Schema.Literal(...(Object.keys(AGGREGATE_INTERVALS) as Array<keyof typeof AGGREGATE_INTERVALS>))
  ).annotations({ description: "bucket width (default 1h); at most 10,000 buckets over the range" }),
  service: repeatable(Text(1, 100))
}).annotations({ parseOptions: { errors: "all" } })
export type AggregatedUrlParams = typeof AggregatedUrlParams.Type

const Around = IntFromString.pipe(Schema.between(0, MAX_CONTEXT))
export const ContextUrlParams = Schema.Struct({
  projectId: Filters.projectId,
  id: Text(1, 64).annotations({ description: "the entry's id, as search returns it" }),
  before: Schema.optional(Around).annotations({ description: `entries before (default 10, at most ${MAX_CONTEXT})` }),
  after: Schema.optional(Around).annotations({ description: `entries after (default 10, at most ${MAX_CONTEXT})` })
}).annotations({ parseOptions: { errors: "all" } })
export type ContextUrlParams = typeof ContextUrlParams.Type

export const ServicesUrlParams = Schema.Struct({
  ...ReadScope,
  limit: Schema.optional(IntFromString.pipe(Schema.between(1, MAX_SERVICES))).annotations({
    description: `at most this many services (default and maximum ${MAX_SERVICES})`
  })
}).annotations({ parseOptions: { errors: "all" } })
export type ServicesUrlParams = typeof ServicesUrlParams.Type

export const EntryUrlParams = Schema.Struct({ projectId: Filters.projectId })
export type EntryUrlParams = typeof EntryUrlParams.Type

const aggregatedEndpoint = HttpApiEndpoint.get("aggregated", "/api/v1/logs/aggregated")
  .setUrlParams(AggregatedUrlParams)
  .addSuccess(AggregatedReply)
  .addError(InvalidQuery)
  .addError(ProjectNotFound)
  .addError(QuotaExceeded)
  .addError(TooManySearches)
  .addError(QueryTimeout)
  .annotate(OpenApi.Summary, "Aggregated log statistics")
  .annotate(
    OpenApi.Description,
    "Entries per time bucket and level, the services with most entries and the most frequent error messages " +
      "over a time range (the LogTide SDK's getAggregatedStats)."
  )
const contextEndpoint = HttpApiEndpoint.get("context", "/api/v1/logs/context")
  .setUrlParams(ContextUrlParams)
  .addSuccess(ContextReply)
  .addError(InvalidQuery)
  .addError(ProjectNotFound)
  .addError(LogNotFound)
  .addError(QuotaExceeded)
  .addError(TooManySearches)
  .addError(QueryTimeout)
  .annotate(OpenApi.Summary, "The entries around one entry")
  .annotate(
    OpenApi.Description,
    "The entries of the same project and service immediately before and after the given one, oldest first."
  )
const servicesEndpoint = HttpApiEndpoint.get("services", "/api/v1/logs/services")
  .setUrlParams(ServicesUrlParams)
  .addSuccess(ServicesReply)
  .addError(InvalidQuery)
  .addError(ProjectNotFound)
  .addError(QuotaExceeded)
  .addError(TooManySearches)
  .addError(QueryTimeout)
  .annotate(OpenApi.Summary, "Services of a project")
  .annotate(OpenApi.Description, "The distinct services with entries in a time range, most entries first.")
const entryEndpoint = HttpApiEndpoint.get("entry", "/api/v1/logs/:id")
  .setPath(Schema.Struct({ id: Text(1, 64) }))
  .setUrlParams(EntryUrlParams)
  .addSuccess(LogOut)
  .addError(InvalidQuery)
  .addError(ProjectNotFound)
  .addError(LogNotFound)
  .addError(QuotaExceeded)
  .addError(TooManySearches)
  .addError(QueryTimeout)
  .annotate(OpenApi.Summary, "One log entry")
  .annotate(OpenApi.Description, "The entry with this id (as search returns it); another project's id is not found.")
// --- end of the read routes ---

export class LogsIngestApi extends HttpApiGroup.make("logsIngest")
  .add(
    HttpApiEndpoint.post("ingest", "/api/v1/ingest")
      .setPayload(IngestBody)
      .addSuccess(IngestReply)
      .addError(InvalidBody)
      .addError(PayloadTooLarge)
      .addError(TooManyEntries)
      .addError(UnsupportedMediaType)
      .addError(QuotaExceeded)
  )
  .add(
    HttpApiEndpoint.post("single", "/api/v1/ingest/single")
      .setPayload(LogEntry)
      .addSuccess(IngestReply)
      .addError(InvalidBody)
      .addError(PayloadTooLarge)
      .addError(TooManyEntries)
      .addError(UnsupportedMediaType)
      .addError(QuotaExceeded)
  )
  .add(
    HttpApiEndpoint.post("otlp", "/v1/otlp/logs")
      .setPayload(Schema.Union(OtlpJson, OtlpProtobuf))
      .addSuccess(OtlpReply)
      .addError(InvalidBody)
      .addError(PayloadTooLarge)
      .addError(TooManyEntries)
      .addError(UnsupportedMediaType)
      .addError(QuotaExceeded)
  ) {}

export class LogsSearchApi extends HttpApiGroup.make("logsSearch")
  .add(
    HttpApiEndpoint.get("search", "/api/v1/logs")
      .setUrlParams(SearchUrlParams)
      .addSuccess(SearchReply)
      .addError(InvalidQuery)
      .addError(ProjectNotFound)
      .addError(QuotaExceeded)
      .addError(TooManySearches)
      .addError(QueryTimeout)
  )
  // the read routes beside search; static paths win over `/logs/:id` in the router whatever the order
  .add(aggregatedEndpoint)
  .add(contextEndpoint)
  .add(servicesEndpoint)
  .add(entryEndpoint)
  .add(
    HttpApiEndpoint.get("stats", "/api/v1/logs/stats")
      .setUrlParams(StatsUrlParams)
      .addSuccess(StatsReply)
      .addError(InvalidQuery)
      .addError(ProjectNotFound)
      .addError(QuotaExceeded)
      .addError(TooManySearches)
      .addError(QueryTimeout)
  )
  .add(
    HttpApiEndpoint.get("trace", "/api/v1/logs/trace/:traceId")
      .setPath(Schema.Struct({ traceId: Text(1, 128) }))
      .setUrlParams(SearchUrlParams)
      .addSuccess(SearchReply)
      .addError(InvalidQuery)
      .addError(ProjectNotFound)
      .addError(QuotaExceeded)
      .addError(TooManySearches)
      .addError(QueryTimeout)
  ) {}
