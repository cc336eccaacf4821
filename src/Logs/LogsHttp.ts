/**
 * Handlers of the logs groups: thin, they read the request, call Ingest or LogsQuery, and shape the reply.
 * The group layers are built against the application Api (see the bottom of this file); the handler functions are
 * exported on their own so tests can mount them on a test Api with a test authentication.
 */
import { HttpIncomingMessage, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Option } from "effect"
import { type BodyFormat, decompress, formatOf, InvalidBody, nestingLimit, parseJson, PayloadTooLarge } from "./Body.js"
import { entriesOf, type Level } from "./Entry.js"
import { Ingest } from "./Ingest.js"
import type { IngestReply, SearchUrlParams, StatsUrlParams } from "./LogsApi.js"
import type { AggregatedUrlParams, ContextUrlParams, EntryUrlParams, ServicesUrlParams } from "./LogsApi.js"
import { LogsConfig } from "./LogsConfig.js"
import { decodeRequest, encodeResponse, responseBody } from "./Otlp.js"
import { LogsQuery, type SearchParams } from "./Query.js"
import { LogsRead } from "./Read.js"

interface RawBody {
  readonly format: BodyFormat
  /** Decompressed. */
  readonly bytes: Uint8Array
  /** As received, for the quota. */
  readonly size: number
}

/** The caps of decoding and of each entry, from the area's settings. */
const decodeLimits = Effect.map(LogsConfig, (c) => ({
  maxExpandedBytes: c.maxExpandedBytes,
  maxEntries: c.maxEntries,
  maxNesting: nestingLimit(c.maxMetadataDepth),
  maxMetadataBytes: c.maxMetadataBytes,
  maxMetadataDepth: c.maxMetadataDepth
}))

/** Limits first (declared length, then actual bytes), then content type and encoding. */
const readBody = (request: HttpServerRequest.HttpServerRequest, allowed: ReadonlyArray<BodyFormat>) =>
  Effect.gen(function* () {
    const { maxBodyBytes } = yield* LogsConfig
    const tooLarge = new PayloadTooLarge({ message: `request body larger than ${maxBodyBytes} bytes` })
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > maxBodyBytes) return yield* tooLarge
    const format = yield* formatOf(request.headers["content-type"], allowed)
    const raw = yield* request.arrayBuffer.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes)),
      Effect.mapError((e) =>
        String((e.cause as Error | undefined)?.message).includes("maxBytes")
          ? tooLarge
          : new InvalidBody({ message: "the request body could not be read" })
      )
    )
    const bytes = yield* decompress(new Uint8Array(raw), request.headers["content-encoding"], maxBodyBytes)
    return { format, bytes, size: raw.byteLength } satisfies RawBody
  })

/** "level: must be one of …" → `{ path: "level", message: "must be one of …" }` */
const detailOf = (reason: string) => {
  const at = reason.indexOf(": ")
  return at > 0 ? { path: reason.slice(0, at), message: reason.slice(at + 2) } : { message: reason }
}

/** POST /api/v1/ingest (mode "batch") and /api/v1/ingest/single (mode "single"). */
export const ingestHandler =
  (mode: "batch" | "single") =>
  ({ request }: { readonly request: HttpServerRequest.HttpServerRequest }) =>
    Effect.gen(function* () {
      const ingest = yield* Ingest
      const body = yield* readBody(request, ["json"])
      const items = entriesOf((yield* parseJson(body.bytes, yield* decodeLimits)).value, mode)
      if (typeof items === "string") return yield* new InvalidBody({ message: items })
      const result = yield* ingest.ingest(items)
      // one entry that is refused is a failed request, not a 200 that stored nothing
      const refused = result.rejected[0]
      if (mode === "single" && result.received === 0 && refused !== undefined) {
        return yield* new InvalidBody({ message: "the log entry is invalid", details: [detailOf(refused.reason)] })
      }
      const reply: IngestReply =
        result.rejected.length > 0
          ? { received: result.received, rejected: result.rejected, timestamp: result.timestamp }
          : { received: result.received, timestamp: result.timestamp }
      return reply
    })

/** POST /v1/otlp/logs: the reply is an ExportLogsServiceResponse in the request's own format. */
export const otlpHandler = ({ request }: { readonly request: HttpServerRequest.HttpServerRequest }) =>
  Effect.gen(function* () {
    const ingest = yield* Ingest
    const body = yield* readBody(request, ["json", "protobuf"])
    const entries = yield* decodeRequest(body.format, body.bytes, yield* decodeLimits)
    const result = yield* ingest.ingest(entries)
    const first = result.rejected[0]
    const reply = responseBody(
      result.rejected.length,
      first === undefined
        ? ""
        : `${result.rejected.length} log records rejected; first: #${first.index} ${first.reason}`
    )
    return body.format === "protobuf"
      ? HttpServerResponse.uint8Array(encodeResponse(reply), { contentType: "application/x-protobuf" })
      : HttpServerResponse.unsafeJson(reply)
  })

const many = <A>(v: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? (v as ReadonlyArray<A>) : [v as A]

/** Filters as the services take them: repeatable parameters become arrays. */
const toSearchParams = (p: SearchUrlParams | StatsUrlParams): SearchParams => ({
  projectId: p.projectId,
  from: p.from,
  to: p.to,
  levels: many<Level>(p.level),
  services: many(p.service),
  traceId: p.traceId,
  q: p.q,
  searchMode: p.searchMode,
  // each paging parameter on its own: `?cursor=…` without `limit` is how clients follow `nextCursor`
  ...paging(p)
})

const paging = (p: SearchUrlParams | StatsUrlParams) => ({
  ...("limit" in p ? { limit: p.limit } : {}),
  ...("cursor" in p ? { cursor: p.cursor } : {}),
  ...("offset" in p ? { offset: p.offset } : {})
})

export const searchHandler = ({ urlParams }: { readonly urlParams: SearchUrlParams }) =>
  Effect.flatMap(LogsQuery, (q) => q.search(toSearchParams(urlParams)))

export const statsHandler = ({ urlParams }: { readonly urlParams: StatsUrlParams }) =>
  Effect.flatMap(LogsQuery, (q) => q.stats({ ...toSearchParams(urlParams), interval: urlParams.interval }))

export const traceHandler = ({
  path,
  urlParams
}: {
  readonly path: { readonly traceId: string }
  readonly urlParams: SearchUrlParams
}) => Effect.flatMap(LogsQuery, (q) => q.trace(path.traceId, toSearchParams(urlParams)))

// --- read routes beside search (src/Logs/Read.ts) ---
export const aggregatedHandler = ({ urlParams: p }: { readonly urlParams: AggregatedUrlParams }) =>
  Effect.flatMap(LogsRead, (r) =>
    r.aggregated({ projectId: p.projectId, from: p.from, to: p.to, interval: p.interval, services: many(p.service) })
  )

export const entryHandler = ({
  path,
  urlParams
}: {
  readonly path: { readonly id: string }
  readonly urlParams: EntryUrlParams
}) => Effect.flatMap(LogsRead, (r) => r.byId(urlParams.projectId, path.id))

export const contextHandler = ({ urlParams }: { readonly urlParams: ContextUrlParams }) =>
  Effect.flatMap(LogsRead, (r) => r.context(urlParams))

export const servicesHandler = ({ urlParams }: { readonly urlParams: ServicesUrlParams }) =>
  Effect.flatMap(LogsRead, (r) => r.services(urlParams))
