/**
 * OTLP/HTTP logs (ExportLogsServiceRequest) in protobuf and JSON, mapped to LogTide-shaped entries that then go
 * through the same per-entry validation as /api/v1/ingest.
 *
 * Protobuf is decoded with the classes the OpenTelemetry JS project generates from opentelemetry-proto with
 * protobufjs (`@opentelemetry/otlp-transformer` ≤ 0.214 ships them; later versions dropped them and need Node 22).
 * The generated module is typed as a bare protobufjs Root, so the few members used here are declared below.
 */
import root from "@opentelemetry/otlp-transformer/build/src/generated/root.js"
import { Effect, Either } from "effect"
import { type BodyFormat, InvalidBody, parseJson } from "./Body.js"
import type { Level } from "./Entry.js"

interface ConversionOptions {
  readonly longs: StringConstructor
  readonly enums: NumberConstructor
  readonly bytes: StringConstructor
}
interface GeneratedMessage<M> {
  decode(bytes: Uint8Array): M
  toObject(message: M, options: ConversionOptions): Record<string, unknown>
  encode(message: Record<string, unknown>): { finish(): Uint8Array }
}
interface LogsServiceV1 {
  readonly ExportLogsServiceRequest: GeneratedMessage<object>
  readonly ExportLogsServiceResponse: GeneratedMessage<object>
}
const logsV1 = (root as unknown as { opentelemetry: { proto: { collector: { logs: { v1: LogsServiceV1 } } } } })
  .opentelemetry.proto.collector.logs.v1

type IdEncoding = "hex" | "base64"

/** Decodes a protobuf ExportLogsServiceRequest into its JSON-mapping object (ids still base64). */
export const decodeProtobuf = (bytes: Uint8Array): Either.Either<Record<string, unknown>, string> => {
  try {
    const message = logsV1.ExportLogsServiceRequest.decode(bytes)
    return Either.right(
      logsV1.ExportLogsServiceRequest.toObject(message, { longs: String, enums: Number, bytes: String })
    )
  } catch (e) {
    return Either.left(`invalid OTLP protobuf: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** The ExportLogsServiceResponse, with partial success when some records were refused. */
export const responseBody = (rejected: number, errorMessage: string): Record<string, unknown> =>
  rejected > 0 ? { partialSuccess: { rejectedLogRecords: rejected, errorMessage } } : {}

export const encodeResponse = (body: Record<string, unknown>): Uint8Array =>
  logsV1.ExportLogsServiceResponse.encode(body).finish()

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
/** protojson readers accept the lowerCamelCase and the original field names alike. */
const field = (o: Record<string, unknown>, key: string): unknown => o[key] ?? o[snake(key)]
const list = (o: Record<string, unknown>, key: string): ReadonlyArray<unknown> => {
  const v = field(o, key)
  return Array.isArray(v) ? v : []
}

/** AnyValue → plain JSON value. */
export const anyValue = (v: unknown): unknown => {
  if (!isRecord(v)) return null
  const s = field(v, "stringValue")
  if (s !== undefined) return s
  const b = field(v, "boolValue")
  if (b !== undefined) return b
  const i = field(v, "intValue")
  if (i !== undefined) {
    // int64 arrives as a decimal string (protojson, protobufjs longs: String) or a number.
    if (typeof i === "number") return i
    if (typeof i !== "string") return null
    const n = Number(i)
    return Number.isSafeInteger(n) ? n : i
  }
  const d = field(v, "doubleValue")
  // NaN and ±Infinity have no JSON form; protojson spells them as strings.
  if (typeof d === "number") return Number.isFinite(d) ? d : String(d)
  if (typeof d === "string") return d
  const arr = field(v, "arrayValue")
  if (isRecord(arr)) return list(arr, "values").map(anyValue)
  const kv = field(v, "kvlistValue")
  if (isRecord(kv)) return attributes(list(kv, "values"))
  const bytes = field(v, "bytesValue")
  if (bytes !== undefined) return bytes
  return null
}

const attributes = (kvs: ReadonlyArray<unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const kv of kvs) if (isRecord(kv) && typeof kv.key === "string") out[kv.key] = anyValue(kv.value)
  return out
}

const SEVERITY_NAMES: ReadonlyArray<readonly [RegExp, Level]> = [
  [/^(trace|debug|dbg|verbose)/i, "debug"],
  [/^(info|notice|information)/i, "info"],
  [/^warn/i, "warn"],
  [/^(err|error)/i, "error"],
  [/^(fatal|crit|critical|emerg|emergency|alert|panic)/i, "critical"]
]

/** SeverityNumber ranges of the OpenTelemetry logs data model; severity text only when the number is unset. */
export const levelOf = (severityNumber: unknown, severityText: unknown): Level => {
  let n = typeof severityNumber === "number" ? severityNumber : Number(severityNumber)
  if (typeof severityNumber === "string" && severityNumber.startsWith("SEVERITY_NUMBER_")) {
    n = Number.NaN
    severityText = severityNumber.slice("SEVERITY_NUMBER_".length)
  }
  if (n >= 1 && n <= 8) return "debug"
  if (n >= 9 && n <= 12) return "info"
  if (n >= 13 && n <= 16) return "warn"
  if (n >= 17 && n <= 20) return "error"
  if (n >= 21 && n <= 24) return "critical"
  if (typeof severityText === "string")
    for (const [re, level] of SEVERITY_NAMES) if (re.test(severityText)) return level
  return "info"
}

const hexId = (raw: unknown, encoding: IdEncoding, length: number): string | undefined => {
  if (typeof raw !== "string" || raw.length === 0) return undefined
  const hex = encoding === "hex" ? raw.toLowerCase() : Buffer.from(raw, "base64").toString("hex")
  // An all-zero id means "no trace" in OTLP; a malformed one is dropped rather than failing the record.
  return hex.length === length && /^[0-9a-f]+$/.test(hex) && !/^0+$/.test(hex) ? hex : undefined
}

const nanosToIso = (raw: unknown): string | undefined => {
  if (raw === undefined || raw === null || raw === "0" || raw === 0) return undefined
  try {
    if (typeof raw !== "number" && typeof raw !== "string") return "invalid"
    const nanos = BigInt(typeof raw === "number" ? Math.trunc(raw) : raw)
    if (nanos <= 0n) return undefined
    return new Date(Number(nanos / 1_000_000n)).toISOString()
  } catch {
    return "invalid"
  }
}

const messageOf = (body: unknown, eventName: unknown): string => {
  const value = anyValue(body)
  if (typeof value === "string" && value.length > 0) return value
  if (value !== null && typeof value !== "string") return JSON.stringify(value)
  return typeof eventName === "string" ? eventName : ""
}

/**
 * Flattens an ExportLogsServiceRequest (JSON mapping) into LogTide-shaped entries, one per log record, in order.
 * Metadata: the record's attributes at the top level, the resource's under `resource`, the scope under `scope`
 * (a record attribute of the same name wins: it is the user's data).
 */
export const toEntries = (request: unknown, ids: IdEncoding): ReadonlyArray<Record<string, unknown>> | string => {
  if (!isRecord(request)) return "body: expected an ExportLogsServiceRequest object"
  const out: Array<Record<string, unknown>> = []
  for (const rl of list(request, "resourceLogs")) {
    if (!isRecord(rl)) continue
    const resource = isRecord(rl.resource) ? attributes(list(rl.resource, "attributes")) : {}
    const serviceName = resource["service.name"]
    const service = typeof serviceName === "string" && serviceName.length > 0 ? serviceName : "unknown_service"
    for (const sl of list(rl, "scopeLogs")) {
      if (!isRecord(sl)) continue
      const scope =
        isRecord(sl.scope) && typeof sl.scope.name === "string" && sl.scope.name.length > 0 ? sl.scope : null
      for (const lr of list(sl, "logRecords")) {
        if (!isRecord(lr)) {
          out.push({})
          continue
        }
        const metadata: Record<string, unknown> = { resource }
        if (scope !== null) metadata.scope = { name: scope.name, version: scope.version ?? null }
        Object.assign(metadata, attributes(list(lr, "attributes")))
        const entry: Record<string, unknown> = {
          time: nanosToIso(field(lr, "timeUnixNano")) ?? nanosToIso(field(lr, "observedTimeUnixNano")),
          service: service.slice(0, 100),
          level: levelOf(field(lr, "severityNumber"), field(lr, "severityText")),
          message: messageOf(lr.body, field(lr, "eventName")),
          metadata
        }
        const traceId = hexId(field(lr, "traceId"), ids, 32)
        if (traceId !== undefined) entry.trace_id = traceId
        const spanId = hexId(field(lr, "spanId"), ids, 16)
        if (spanId !== undefined) entry.span_id = spanId
        out.push(entry)
      }
    }
  }
  return out
}

/** A decompressed OTLP body → LogTide-shaped entries, or the reason the whole body is refused. */
export const decodeRequest = (
  format: BodyFormat,
  bytes: Uint8Array
): Effect.Effect<ReadonlyArray<Record<string, unknown>>, InvalidBody> =>
  Effect.gen(function* () {
    const request =
      format === "protobuf"
        ? yield* Either.match(decodeProtobuf(bytes), {
            onLeft: (message) => Effect.fail(new InvalidBody({ message })),
            onRight: Effect.succeed
          })
        : yield* parseJson(bytes)
    const entries = toEntries(request, format === "protobuf" ? "base64" : "hex")
    return typeof entries === "string" ? yield* new InvalidBody({ message: entries }) : entries
  })
