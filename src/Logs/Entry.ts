/**
 * One log entry as clients send it (LogTide wire format), and its validation.
 * Validation is hand-written rather than a Schema decode per entry: it runs on every ingested entry and is on the hot
 * path measured by bench/ingest.ts. `LogEntry` (the Schema) documents the same rules for the OpenAPI document, and
 * test/Logs/Entry.test.ts checks that the two agree. An accepted entry must be insertable as it is, so everything
 * Postgres would refuse (NUL characters, lone surrogates, out-of-range times) is rejected here, never later.
 */
import { Schema } from "effect"

export const LEVELS = ["debug", "info", "warn", "error", "critical"] as const
export const Level = Schema.Literal(...LEVELS)
export type Level = typeof Level.Type

const SPAN_ID = /^[0-9a-fA-F]{16}$/
const SAFE_ID = /^[A-Za-z0-9._:/-]{1,128}$/
export const MAX_SERVICE_LENGTH = 100

export const LogEntry = Schema.Struct({
  time: Schema.optional(
    Schema.Union(Schema.String, Schema.Number).annotations({
      description: "ISO-8601 time with offset, or Unix epoch (seconds or milliseconds); default: now"
    })
  ),
  service: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(MAX_SERVICE_LENGTH)),
  level: Level,
  message: Schema.String.pipe(Schema.minLength(1)).annotations({ description: "1 character to 64 KiB (UTF-8)" }),
  metadata: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
      description: "any JSON object up to 64 KiB serialised (UTF-8) and 20 levels deep (defaults)"
    })
  ),
  trace_id: Schema.optional(Schema.String.pipe(Schema.pattern(SAFE_ID))),
  span_id: Schema.optional(Schema.String.pipe(Schema.pattern(SPAN_ID))),
  session_id: Schema.optional(Schema.String.pipe(Schema.pattern(SAFE_ID)))
}).annotations({ identifier: "LogEntry" })
export type LogEntry = typeof LogEntry.Encoded

/** An entry that passed validation, in the shape the write path stores. */
export interface ValidEntry {
  readonly time: Date
  readonly service: string
  readonly level: Level
  readonly message: string
  /** The metadata object serialised once, here, so the write path never re-encodes it. */
  readonly metadata: string | null
  readonly traceId: string | null
  readonly spanId: string | null
  readonly sessionId: string | null
}

export interface EntryLimits {
  readonly maxMessageBytes: number
  /** UTF-8 bytes of the serialised metadata. */
  readonly maxMetadataBytes: number
  /** Nesting of the metadata, the object itself being level 1. */
  readonly maxMetadataDepth: number
}

/**
 * Metadata its producer already serialised and checked with `metadataProblem` (OTLP serialises a shared resource
 * once, not once per record). Only code can make one: a parsed body never holds a class instance.
 */
export class SerializedMetadata {
  constructor(readonly json: string) {}
}

/** An entry its producer already refused (an OTLP record over a cap), with the reason reported for its index. */
export class RefusedEntry {
  constructor(readonly reason: string) {}
}

export interface Rejection {
  readonly index: number
  readonly reason: string
}

const LEVEL_SET: ReadonlySet<string> = new Set(LEVELS)
// timestamptz holds 4713 BC .. 294276 AD; a log time outside 1970..9999 is a client bug, not a log.
const MIN_TIME = 0
const MAX_TIME = Date.UTC(9999, 11, 31)
// JSON.stringify writes NUL as \u0000 and a lone surrogate as \udXXX (a well-formed pair is written as it is);
// Postgres refuses both in jsonb. Odd backslash runs only, so an escaped backslash followed by "u0000" is not
// mistaken for one.
const ESCAPED_REFUSED = /(?:^|[^\\])(?:\\\\)*\\u(0000|d[89a-f][0-9a-f]{2})/

declare global {
  interface String {
    /** ES2024, in Node 20: false when the string holds a lone surrogate. */
    isWellFormed(): boolean
  }
}

/** True when `value` has objects or arrays nested deeper than `max` (itself level 1); never walks past `max + 1`. */
const deeperThan = (value: unknown, max: number, depth = 1): boolean => {
  if (typeof value !== "object" || value === null) return false
  if (depth > max) return true
  if (Array.isArray(value)) {
    for (const v of value) if (deeperThan(v, max, depth + 1)) return true
  } else {
    for (const k in value) if (deeperThan((value as Record<string, unknown>)[k], max, depth + 1)) return true
  }
  return false
}

/** Why serialised metadata cannot be stored as it is (size, NUL, lone surrogate), or undefined. */
export const metadataProblem = (json: string, maxBytes: number): string | undefined => {
  // UTF-8 needs 1 to 3 bytes per UTF-16 unit: count bytes only when the length alone does not decide
  if (json.length > maxBytes || (json.length * 3 > maxBytes && Buffer.byteLength(json, "utf8") > maxBytes)) {
    return `metadata: larger than ${maxBytes} bytes serialised`
  }
  const refused = ESCAPED_REFUSED.exec(json)
  if (refused === null) return undefined
  return refused[1] === "0000" ? "metadata: must not contain NUL" : "metadata: must not contain a lone surrogate"
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseTime = (raw: unknown, now: Date): Date | string => {
  if (raw === undefined || raw === null) return now
  let ms: number
  if (typeof raw === "string") {
    // Date.parse accepts local-time forms ("2024-01-01 10:00"); a log time must say its offset.
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(raw)) {
      return "time: expected an ISO-8601 date-time with offset"
    }
    ms = Date.parse(raw.replace(/(\.\d{3})\d+/, "$1"))
  } else if (typeof raw === "number" && Number.isFinite(raw)) {
    // Fluent Bit and friends send epoch seconds as a double; anything this large is already milliseconds.
    ms = Math.abs(raw) < 1e11 ? raw * 1000 : raw
  } else {
    return "time: expected an ISO-8601 string or epoch number"
  }
  if (!Number.isFinite(ms) || ms < MIN_TIME || ms > MAX_TIME) return "time: out of range"
  return new Date(ms)
}

const text = (
  raw: unknown,
  field: string,
  max: number,
  pattern?: RegExp
): { readonly value: string | null } | string => {
  if (raw === undefined || raw === null) return { value: null }
  if (typeof raw !== "string") return `${field}: expected a string`
  if (pattern !== undefined ? !pattern.test(raw) : raw.length === 0 || raw.length > max || raw.includes("\u0000")) {
    return `${field}: invalid value`
  }
  return { value: raw }
}

/** Validates one entry; returns the stored shape or the reason it was refused. */
export const validateEntry = (raw: unknown, now: Date, limits: EntryLimits): ValidEntry | string => {
  if (raw instanceof RefusedEntry) return raw.reason
  if (!isRecord(raw)) return "entry: expected an object"
  const service = raw.service
  if (typeof service !== "string") return "service: required string"
  if (service.length === 0 || service.length > MAX_SERVICE_LENGTH) return "service: must be 1..100 characters"
  if (service.includes("\u0000")) return "service: must not contain NUL"
  if (!service.isWellFormed()) return "service: must not contain a lone surrogate"
  const level = raw.level
  if (typeof level !== "string" || !LEVEL_SET.has(level)) return `level: must be one of ${LEVELS.join(", ")}`
  const message = raw.message
  if (typeof message !== "string" || message.length === 0) return "message: required non-empty string"
  // UTF-8 needs at most 3 bytes per UTF-16 unit, so short messages skip the byte count.
  if (message.length * 3 > limits.maxMessageBytes && Buffer.byteLength(message, "utf8") > limits.maxMessageBytes) {
    return `message: longer than ${limits.maxMessageBytes} bytes`
  }
  if (message.includes("\u0000")) return "message: must not contain NUL"
  if (!message.isWellFormed()) return "message: must not contain a lone surrogate"
  const time = parseTime(raw.time, now)
  if (typeof time === "string") return time
  let metadata: string | null = null
  if (raw.metadata instanceof SerializedMetadata) {
    metadata = raw.metadata.json
  } else if (raw.metadata !== undefined && raw.metadata !== null) {
    if (!isRecord(raw.metadata)) return "metadata: expected an object"
    // before serialising: JSON.stringify recurses, and a deep enough value overflows the stack
    if (deeperThan(raw.metadata, limits.maxMetadataDepth)) {
      return `metadata: nested deeper than ${limits.maxMetadataDepth} levels`
    }
    metadata = JSON.stringify(raw.metadata)
    const problem = metadataProblem(metadata, limits.maxMetadataBytes)
    if (problem !== undefined) return problem
  }
  const traceId = text(raw.trace_id, "trace_id", 128, SAFE_ID)
  if (typeof traceId === "string") return traceId
  const spanId = text(raw.span_id, "span_id", 16, SPAN_ID)
  if (typeof spanId === "string") return "span_id: expected 16 hexadecimal characters"
  const sessionId = text(raw.session_id, "session_id", 128, SAFE_ID)
  if (typeof sessionId === "string") return sessionId
  return {
    time,
    service,
    level: level as Level,
    message,
    metadata,
    traceId: traceId.value,
    spanId: spanId.value === null ? null : spanId.value.toLowerCase(),
    sessionId: sessionId.value
  }
}

export interface Validated {
  readonly entries: ReadonlyArray<ValidEntry>
  readonly rejected: ReadonlyArray<Rejection>
}

/** Each entry on its own: the valid ones are kept in order, the others reported with their index. */
export const validateEntries = (items: ReadonlyArray<unknown>, now: Date, limits: EntryLimits): Validated => {
  const entries: Array<ValidEntry> = []
  const rejected: Array<Rejection> = []
  for (let index = 0; index < items.length; index++) {
    const result = validateEntry(items[index], now, limits)
    if (typeof result === "string") rejected.push({ index, reason: result })
    else entries.push(result)
  }
  return { entries, rejected }
}

/**
 * The entries of an ingest body: `{ logs: [...] }` or a bare array for the batch endpoint; one object for
 * /single (an array is taken as a batch there too, as Fluent Bit's `json` format sends one). Returns a reason
 * when the body as a whole has the wrong shape.
 */
export const entriesOf = (body: unknown, mode: "batch" | "single"): ReadonlyArray<unknown> | string => {
  if (Array.isArray(body)) return body as ReadonlyArray<unknown>
  if (mode === "single") return isRecord(body) ? [body] : "body: expected a log entry object"
  if (isRecord(body) && Array.isArray(body.logs)) return body.logs as ReadonlyArray<unknown>
  return 'body: expected { "logs": [...] } or an array of log entries'
}
