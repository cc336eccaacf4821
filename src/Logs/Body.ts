/**
 * Turning a raw request body into something the ingest paths can validate: content type, optional gzip (bounded, so
 * a small compressed body cannot expand past the byte limit), JSON parsing after a bound on what it decodes into.
 * Errors are the ones that refuse a body whole; they cross HTTP, so they are Schema.TaggedErrors with their status.
 */
import { ErrorDetail, PayloadTooLarge } from "../Http/Errors.js"
import { promisify } from "node:util"
import { gunzip as gunzipCb, inflate as inflateCb } from "node:zlib"
import { HttpApiSchema } from "@effect/platform"
import { Effect, Schema } from "effect"

const gunzip = promisify(gunzipCb)
const inflate = promisify(inflateCb)

// the one 413 of the application (the server's own body limits raise it too)
export { PayloadTooLarge }

export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 415 })
) {}

export class InvalidBody extends Schema.TaggedError<InvalidBody>()(
  "InvalidBody",
  // `details`: the failing paths, as in every 400 (API.md), when the refusal is about fields
  { message: Schema.String, details: Schema.optional(Schema.Array(ErrorDetail)) },
  HttpApiSchema.annotations({ status: 400 })
) {}

export type BodyFormat = "json" | "protobuf"

/** `application/json` (any `+json` type and charset) or, when allowed, `application/x-protobuf`. */
export const formatOf = (
  contentType: string | undefined,
  allowed: ReadonlyArray<BodyFormat>
): Effect.Effect<BodyFormat, UnsupportedMediaType> => {
  const mime = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? ""
  const format: BodyFormat | null =
    mime === "application/json" || (mime.startsWith("application/") && mime.endsWith("+json"))
      ? "json"
      : mime === "application/x-protobuf" || mime === "application/protobuf"
        ? "protobuf"
        : null
  return format !== null && allowed.includes(format)
    ? Effect.succeed(format)
    : Effect.fail(
        new UnsupportedMediaType({
          message: `unsupported content type "${mime}"; expected ${allowed.map((f) => (f === "json" ? "application/json" : "application/x-protobuf")).join(" or ")}`
        })
      )
}

/** Undoes `Content-Encoding` (gzip, deflate or none), never producing more than `maxBytes`. */
export const decompress = (
  bytes: Uint8Array,
  encoding: string | undefined,
  maxBytes: number
): Effect.Effect<Uint8Array, PayloadTooLarge | UnsupportedMediaType | InvalidBody> => {
  const e = (encoding ?? "").trim().toLowerCase()
  if (e === "" || e === "identity") return Effect.succeed(bytes)
  if (e !== "gzip" && e !== "x-gzip" && e !== "deflate") {
    return Effect.fail(new UnsupportedMediaType({ message: `unsupported content encoding "${e}"` }))
  }
  const run = e === "deflate" ? inflate : gunzip
  return Effect.tryPromise({
    try: () => run(bytes, { maxOutputLength: maxBytes }),
    catch: (cause) =>
      (cause as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
        ? new PayloadTooLarge({ message: `decompressed body larger than ${maxBytes} bytes` })
        : new InvalidBody({ message: `body is not valid ${e} data` })
  })
}

/**
 * What one object or array (JSON) or message (protobuf) counts for in a body's decoded size: about the heap an empty
 * one takes once decoded (Node 20: 58–64 bytes after JSON.parse, 46 after protobufjs decode; docs/decisions.md).
 */
export const DECODED_CONTAINER_BYTES = 64

export interface DecodeLimits {
  /** Decoded size one request may reach (LogsConfig.maxExpandedBytes). */
  readonly maxExpandedBytes: number
  /** Nesting of the body. Deeper, no entry in it could be accepted, and the decoders recurse. */
  readonly maxNesting: number
}

/** A body deeper than this cannot hold an acceptable entry: OTLP spends at most 4 levels per metadata level. */
export const nestingLimit = (maxMetadataDepth: number): number => 4 * maxMetadataDepth + 16

/** Body bytes plus DECODED_CONTAINER_BYTES per container. */
export const decodedSize = (bodyBytes: number, containers: number): number =>
  bodyBytes + containers * DECODED_CONTAINER_BYTES

export const tooExpanded = (limits: DecodeLimits, what = "") =>
  new PayloadTooLarge({
    message: `request expands to more than ${limits.maxExpandedBytes} bytes once decoded${what}; send smaller batches`
  })

export const tooDeep = (limits: DecodeLimits) =>
  new InvalidBody({ message: `body nested deeper than ${limits.maxNesting} levels` })

/** Arrays to count the elements of while scanning: those that are the value of one of `keys`, up to `max`. */
export interface CountedArrays {
  readonly keys: ReadonlyArray<string>
  readonly max: number
}

const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/**
 * The objects and arrays a JSON body would decode into, counted on its bytes without parsing, or why it is refused
 * before JSON.parse allocates them: more than the decoded size allows, or nested too deep. A UTF-8 continuation
 * byte is never an ASCII bracket or quote, so bytes can be scanned as they are. With `counted`, also the elements
 * of every array that is the value of one of its keys (a key written with escapes is decoded first), the scan
 * stopping once they exceed `counted.max`: an upper bound of what JSON.parse would give under those keys
 * (a duplicate key counts twice).
 */
const scanJsonCounting = (
  bytes: Uint8Array,
  limits: DecodeLimits,
  counted?: CountedArrays
): { readonly containers: number; readonly counted: number } | PayloadTooLarge | InvalidBody => {
  const budget = Math.floor((limits.maxExpandedBytes - bytes.length) / DECODED_CONTAINER_BYTES)
  let containers = 0
  let depth = 0
  let elements = 0
  // per depth: whether the array open there is counted (0: no, 1: counted and empty so far, 2: counted, non-empty)
  const countedAt: Array<number> = []
  let countedArrayAt = -1
  const names = counted?.keys.map((k) => Buffer.from(JSON.stringify(k).slice(1, -1), "utf8"))
  const isCountedKey = (from: number, to: number): boolean => {
    if (names === undefined) return false
    const raw = bytes.subarray(from, to)
    if (raw.includes(0x5c)) {
      try {
        const key: unknown = JSON.parse(
          Buffer.from(bytes.buffer, bytes.byteOffset + from - 1, to - from + 2).toString("utf8")
        )
        return typeof key === "string" && counted!.keys.includes(key)
      } catch {
        return false
      }
    }
    return names.some((n) => n.equals(raw))
  }
  const over = () => counted !== undefined && elements > counted.max
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (isSpace(c)) continue
    // the first value of a counted array
    if (countedAt[depth] === 1 && c !== 0x5d) {
      countedAt[depth] = 2
      elements++
      if (over()) return { containers, counted: elements }
    }
    if (c === 0x22) {
      // to the closing quote natively (most of a log body is inside strings): the first one after an even run of
      // backslashes; an unterminated string ends the scan, and JSON.parse refuses the body
      const open = i
      for (;;) {
        const q = bytes.indexOf(0x22, i + 1)
        if (q < 0) return { containers, counted: elements }
        let backslashes = 0
        while (bytes[q - 1 - backslashes] === 0x5c) backslashes++
        i = q
        if (backslashes % 2 === 0) break
      }
      if (names !== undefined) {
        let j = i + 1
        while (isSpace(bytes[j])) j++
        if (bytes[j] === 0x3a && isCountedKey(open + 1, i)) {
          j++
          while (isSpace(bytes[j])) j++
          if (bytes[j] === 0x5b) countedArrayAt = j
        }
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++containers > budget) return tooExpanded(limits)
      if (++depth > limits.maxNesting) return tooDeep(limits)
      countedAt[depth] = i === countedArrayAt ? 1 : 0
    } else if (c === 0x7d || c === 0x5d) {
      countedAt[depth] = 0
      depth--
    } else if (c === 0x2c && countedAt[depth] === 2) {
      elements++
      if (over()) return { containers, counted: elements }
    }
  }
  return { containers, counted: elements }
}

/** `scanJsonCounting` without counted arrays: the containers, or the refusal. */
export const scanJson = (bytes: Uint8Array, limits: DecodeLimits): number | PayloadTooLarge | InvalidBody => {
  const scanned = scanJsonCounting(bytes, limits)
  return "containers" in scanned ? scanned.containers : scanned
}

/**
 * JSON.parse over UTF-8 bytes once `scanJsonCounting` bounded what it decodes into; anything else is a 400 for the
 * body. With `counted`, a body whose counted arrays hold more than `counted.max` elements is not parsed at all:
 * `counted` in the result is then over the maximum and `value` is null.
 */
export const parseJson = (
  bytes: Uint8Array,
  limits: DecodeLimits,
  counted?: CountedArrays
): Effect.Effect<
  { readonly value: unknown; readonly decodedSize: number; readonly counted: number },
  InvalidBody | PayloadTooLarge
> => {
  const scanned = scanJsonCounting(bytes, limits, counted)
  if (!("containers" in scanned)) return Effect.fail(scanned)
  if (counted !== undefined && scanned.counted > counted.max) {
    return Effect.succeed({ value: null, decodedSize: 0, counted: scanned.counted })
  }
  return Effect.try({
    try: () => ({
      value: JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")) as unknown,
      decodedSize: decodedSize(bytes.length, scanned.containers),
      counted: scanned.counted
    }),
    catch: () => new InvalidBody({ message: "body is not valid JSON" })
  })
}
