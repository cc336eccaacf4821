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
import {
  type BodyFormat,
  type DecodeLimits,
  InvalidBody,
  parseJson,
  PayloadTooLarge,
  tooDeep,
  tooExpanded
} from "./Body.js"
import { type Level, MAX_SERVICE_LENGTH, metadataProblem, RefusedEntry, SerializedMetadata } from "./Entry.js"
import { TooManyEntries } from "./Ingest.js"

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

// The OTLP logs messages as protobufjs's generated decoders read them: per message kind, field number → how the
// decoder consumes it (whatever the wire type says). A positive number is a nested message of that kind.
const V32 = -1 // varint read as uint32 (int32, uint32, bool, enum)
const V64 = -2 // varint read as a 64-bit long
const F64 = -3
const F32 = -4
const LEN = -5 // string or bytes
const STR = -6 // one element of a repeated string
const [REQ, RL, RES, SL, SCOPE, LR, KV, ANY, ARR, KVL, ENTITY] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] as const
const SCHEMA: ReadonlyArray<Readonly<Record<number, number>>> = [
  /* ExportLogsServiceRequest */ { 1: RL },
  /* ResourceLogs */ { 1: RES, 2: SL, 3: LEN },
  /* Resource */ { 1: KV, 2: V32, 3: ENTITY },
  /* ScopeLogs */ { 1: SCOPE, 2: LR, 3: LEN },
  /* InstrumentationScope */ { 1: LEN, 2: LEN, 3: KV, 4: V32 },
  /* LogRecord */ { 1: F64, 11: F64, 2: V32, 3: LEN, 5: ANY, 6: KV, 7: V32, 8: F32, 9: LEN, 10: LEN, 12: LEN },
  /* KeyValue */ { 1: LEN, 2: ANY },
  /* AnyValue */ { 1: LEN, 2: V32, 3: V64, 4: F64, 5: ARR, 6: KVL, 7: LEN },
  /* ArrayValue */ { 1: ANY },
  /* KeyValueList */ { 1: KV },
  /* EntityRef */ { 1: LEN, 2: LEN, 3: STR, 4: STR }
]
void REQ

/**
 * What one protobuf message or repeated element counts for in the decoded size: the decoded message (Node 20:
 * 34–104 bytes measured) and its `toObject` copy (66–105 bytes), both alive while the copy is made.
 */
export const PROTOBUF_ELEMENT_BYTES = 160

/** The 413 of a body with more log records than one request may carry, before any of them is decoded. */
export const tooManyRecords = (maxEntries: number) =>
  new TooManyEntries({
    message: `more than ${maxEntries} entries in one request; at most ${maxEntries} are accepted`
  })

/**
 * The messages and repeated elements a protobuf body would decode into, counted by walking its wire format the way
 * the generated decoders read it (so both stay aligned) without allocating, or why it is refused before decoding:
 * more log records than `maxEntries` (600,000 empty records fit in 1.2 MB), more than the decoded size allows
 * (10 MiB of empty KeyValues would be 5 million objects), nested too deep for the recursive decoders, or malformed.
 */
export const scanProtobuf = (
  bytes: Uint8Array,
  limits: DecodeLimits & { readonly maxEntries?: number }
): number | PayloadTooLarge | InvalidBody | TooManyEntries => {
  const budget = Math.floor((limits.maxExpandedBytes - bytes.length) / PROTOBUF_ELEMENT_BYTES)
  const maxRecords = limits.maxEntries ?? Number.POSITIVE_INFINITY
  let records = 0
  const invalid = (why: string) => new InvalidBody({ message: `invalid OTLP protobuf: ${why}` })
  const len = bytes.length
  let pos = 0
  // protobufjs's uint32: 5 bytes at most, then 5 more skipped whatever they hold
  const uint32 = (): number => {
    let value = 0
    for (let i = 0; i < 5; i++) {
      if (pos >= len) return -1
      const b = bytes[pos++]!
      value += (b & 0x7f) * 2 ** (7 * i)
      if (b < 0x80) return value % 2 ** 32
    }
    pos += 5
    return pos > len ? -1 : value % 2 ** 32
  }
  const skipVarint = (max: number): boolean => {
    for (let i = 0; i < max; i++) {
      if (pos >= len) return false
      if (bytes[pos++]! < 0x80) return true
    }
    return false
  }
  let elements = 0
  const kinds: Array<number> = [0]
  const ends: Array<number> = [len]
  for (;;) {
    const end = ends[ends.length - 1]!
    if (pos >= end) {
      if (pos > end) return invalid("a field runs past its message")
      if (ends.length === 1) return elements
      ends.pop()
      kinds.pop()
      continue
    }
    const tag = uint32()
    if (tag < 0) return invalid("truncated tag")
    const known = SCHEMA[kinds[kinds.length - 1]!]![tag >>> 3]
    let consume = known
    if (consume === undefined) {
      const wire = tag & 7
      consume = wire === 0 ? V64 : wire === 1 ? F64 : wire === 2 ? LEN : wire === 5 ? F32 : undefined
      // groups (3, 4) are deprecated and absent from OTLP; the decoder would skip them recursively
      if (consume === undefined) return invalid(`wire type ${wire}`)
    }
    if (consume === V32 || consume === V64) {
      if (consume === V32 ? uint32() < 0 : !skipVarint(10)) return invalid("truncated varint")
    } else if (consume === F64) pos += 8
    else if (consume === F32) pos += 4
    else {
      const size = uint32()
      if (size < 0 || pos + size > end) return invalid("a length runs past its message")
      if (consume === LEN) pos += size
      else {
        if (++elements > budget) return tooExpanded(limits)
        if (consume === STR) pos += size
        else {
          if (consume === LR && ++records > maxRecords) return tooManyRecords(maxRecords)
          if (ends.length >= limits.maxNesting) return tooDeep(limits)
          kinds.push(consume)
          ends.push(pos + size)
        }
      }
    }
  }
}

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

/** Thrown by the conversion when a value nests deeper than the metadata may; caught per resource or record. */
class TooDeep extends Error {}
const TOO_DEEP = new TooDeep("nested too deep")

/** AnyValue → plain JSON value; `level` is where a container made from it would sit (the metadata is level 1). */
const anyValue = (v: unknown, level = 1, maxLevel = Number.POSITIVE_INFINITY): unknown => {
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
  if (isRecord(arr)) {
    if (level > maxLevel) throw TOO_DEEP
    return list(arr, "values").map((x) => anyValue(x, level + 1, maxLevel))
  }
  const kv = field(v, "kvlistValue")
  if (isRecord(kv)) return attributes(list(kv, "values"), level, maxLevel)
  const bytes = field(v, "bytesValue")
  if (bytes !== undefined) return bytes
  return null
}

const attributes = (kvs: ReadonlyArray<unknown>, level: number, maxLevel: number): Record<string, unknown> => {
  if (level > maxLevel) throw TOO_DEEP
  const out: Record<string, unknown> = {}
  for (const kv of kvs) {
    if (isRecord(kv) && typeof kv.key === "string") out[kv.key] = anyValue(kv.value, level + 1, maxLevel)
  }
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

const messageOf = (body: unknown, eventName: unknown, maxLevel: number): string => {
  const value = anyValue(body, 1, maxLevel)
  if (typeof value === "string" && value.length > 0) return value
  if (value !== null && typeof value !== "string") return JSON.stringify(value)
  return typeof eventName === "string" ? eventName : ""
}

export interface OtlpLimits extends DecodeLimits {
  /** Log records in one request (LogsConfig.maxEntries): more is refused before decoding. */
  readonly maxEntries: number
  readonly maxMetadataBytes: number
  readonly maxMetadataDepth: number
}

/** A resource's or scope's metadata, serialised once for all its records, or why none of them can be stored. */
interface Shared {
  readonly json: string
  readonly bytes: number
  readonly problem: string | undefined
}

const share = (make: () => Record<string, unknown>, what: string, limits: OtlpLimits): Shared => {
  try {
    const json = JSON.stringify(make())
    const problem = metadataProblem(json, limits.maxMetadataBytes)
    return { json, bytes: Buffer.byteLength(json, "utf8"), problem: problem && `${problem} (${what})` }
  } catch (e) {
    if (e !== TOO_DEEP) throw e
    return { json: "", bytes: 0, problem: `metadata: nested deeper than ${limits.maxMetadataDepth} levels (${what})` }
  }
}

/**
 * Flattens an ExportLogsServiceRequest (JSON mapping) into LogTide-shaped entries, one per log record, in order.
 * Metadata: the record's attributes at the top level, the resource's under `resource`, the scope under `scope`
 * (a record attribute of the same name wins: it is the user's data).
 *
 * Every record of a resource carries the whole resource, so the resource and the scope are serialised once and
 * spliced into each record's metadata, and the request is refused whole (413) before any record is converted when
 * its decoded size (`decodedSize`) plus each shared resource and scope counted once more per further record
 * exceeds `maxExpandedBytes`. A record over a per-entry cap becomes a RefusedEntry, reported with its index.
 */
const toEntries = (
  request: unknown,
  ids: IdEncoding,
  limits: OtlpLimits,
  decodedSize = 0
): ReadonlyArray<unknown> | string | PayloadTooLarge | TooManyEntries => {
  if (!isRecord(request)) return "body: expected an ExportLogsServiceRequest object"
  const maxLevel = limits.maxMetadataDepth
  const groups: Array<{ service: string; resource: Shared; scopes: Array<[Shared | null, ReadonlyArray<unknown>]> }> =
    []
  let expanded = decodedSize
  let total = 0
  for (const rl of list(request, "resourceLogs")) {
    if (!isRecord(rl)) continue
    let service = "unknown_service"
    const resource = share(
      () => {
        const attrs = isRecord(rl.resource) ? attributes(list(rl.resource, "attributes"), 2, maxLevel) : {}
        const name = attrs["service.name"]
        if (typeof name === "string" && name.length > 0) service = name
        return attrs
      },
      "resource",
      limits
    )
    const scopes: Array<[Shared | null, ReadonlyArray<unknown>]> = []
    let records = 0
    for (const sl of list(rl, "scopeLogs")) {
      if (!isRecord(sl)) continue
      const s = sl.scope
      const scope =
        isRecord(s) && typeof s.name === "string" && s.name.length > 0
          ? share(() => ({ name: s.name, version: typeof s.version === "string" ? s.version : null }), "scope", limits)
          : null
      const logRecords = list(sl, "logRecords")
      records += logRecords.length
      if (scope !== null && logRecords.length > 1) expanded += scope.bytes * (logRecords.length - 1)
      scopes.push([scope, logRecords])
    }
    if (records > 1) expanded += resource.bytes * (records - 1)
    total += records
    groups.push({ service, resource, scopes })
  }
  // the scans already refused more records; this holds for any caller, before one entry is built
  if (total > limits.maxEntries) {
    return new TooManyEntries({
      message: `${total} entries in one request; at most ${limits.maxEntries} are accepted`
    })
  }
  if (expanded > limits.maxExpandedBytes) {
    return tooExpanded(limits, ", each record carrying its resource and scope")
  }
  const out: Array<unknown> = []
  for (const { service, resource, scopes } of groups) {
    for (const [scope, logRecords] of scopes) {
      for (const lr of logRecords) {
        if (!isRecord(lr)) {
          out.push({})
          continue
        }
        const shared = resource.problem ?? scope?.problem
        if (shared !== undefined) {
          out.push(new RefusedEntry(shared))
          continue
        }
        let own: Record<string, unknown>
        let message: string
        try {
          own = attributes(list(lr, "attributes"), 1, maxLevel)
        } catch (e) {
          if (e !== TOO_DEEP) throw e
          out.push(new RefusedEntry(`metadata: nested deeper than ${maxLevel} levels`))
          continue
        }
        try {
          message = messageOf(lr.body, field(lr, "eventName"), maxLevel)
        } catch (e) {
          if (e !== TOO_DEEP) throw e
          out.push(new RefusedEntry(`message: body nested deeper than ${maxLevel} levels`))
          continue
        }
        const ownJson = JSON.stringify(own)
        const ownProblem = metadataProblem(ownJson, limits.maxMetadataBytes)
        if (ownProblem !== undefined) {
          out.push(new RefusedEntry(ownProblem))
          continue
        }
        // `{"resource":…,"scope":…,own…}` without serialising the resource again
        const parts: Array<string> = []
        let bytes = 2
        if (!Object.hasOwn(own, "resource")) {
          parts.push(`"resource":${resource.json}`)
          bytes += 11 + resource.bytes
        }
        if (scope !== null && !Object.hasOwn(own, "scope")) {
          parts.push(`"scope":${scope.json}`)
          bytes += 8 + scope.bytes
        }
        if (ownJson.length > 2) {
          parts.push(ownJson.slice(1, -1))
          bytes += Buffer.byteLength(ownJson, "utf8") - 2
        }
        bytes += Math.max(0, parts.length - 1)
        if (bytes > limits.maxMetadataBytes) {
          out.push(new RefusedEntry(`metadata: larger than ${limits.maxMetadataBytes} bytes serialised`))
          continue
        }
        const entry: Record<string, unknown> = {
          time: nanosToIso(field(lr, "timeUnixNano")) ?? nanosToIso(field(lr, "observedTimeUnixNano")),
          service: truncate(service, MAX_SERVICE_LENGTH),
          level: levelOf(field(lr, "severityNumber"), field(lr, "severityText")),
          message,
          metadata: new SerializedMetadata(`{${parts.join(",")}}`)
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

/** The JSON names of ScopeLogs' records (protojson readers accept both). */
const RECORDS_KEYS = ["logRecords", "log_records"]

/** At most `max` UTF-16 units of `s`, never ending in the first half of a surrogate pair. */
export const truncate = (s: string, max: number): string => {
  if (s.length <= max) return s
  const code = s.charCodeAt(max - 1)
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max)
}

/** A decompressed OTLP body → LogTide-shaped entries, or the reason the whole body is refused. */
export const decodeRequest = (
  format: BodyFormat,
  bytes: Uint8Array,
  limits: OtlpLimits
): Effect.Effect<ReadonlyArray<unknown>, InvalidBody | PayloadTooLarge | TooManyEntries> =>
  Effect.gen(function* () {
    let request: unknown
    let size: number
    if (format === "protobuf") {
      const elements = scanProtobuf(bytes, limits)
      if (typeof elements !== "number") return yield* elements
      size = bytes.length + elements * PROTOBUF_ELEMENT_BYTES
      request = yield* Either.match(decodeProtobuf(bytes), {
        onLeft: (message) => Effect.fail(new InvalidBody({ message })),
        onRight: Effect.succeed
      })
    } else {
      const parsed = yield* parseJson(bytes, limits, { keys: RECORDS_KEYS, max: limits.maxEntries })
      if (parsed.counted > limits.maxEntries) return yield* tooManyRecords(limits.maxEntries)
      request = parsed.value
      size = parsed.decodedSize
    }
    const entries = toEntries(request, format === "protobuf" ? "base64" : "hex", limits, size)
    if (typeof entries === "string") return yield* new InvalidBody({ message: entries })
    if (entries instanceof PayloadTooLarge || entries instanceof TooManyEntries) return yield* entries
    return entries
  })
