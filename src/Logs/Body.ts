/**
 * Turning a raw request body into something the ingest paths can validate: content type, optional gzip (bounded, so
 * a small compressed body cannot expand past the byte limit), JSON parsing. Errors are the ones that refuse a body
 * whole; they cross HTTP, so they are Schema.TaggedErrors with their status.
 */
import { ErrorDetail } from "../Http/Errors.js"
import { promisify } from "node:util"
import { gunzip as gunzipCb, inflate as inflateCb } from "node:zlib"
import { HttpApiSchema } from "@effect/platform"
import { Effect, Schema } from "effect"

const gunzip = promisify(gunzipCb)
const inflate = promisify(inflateCb)

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 413 })
) {}

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

export type BodyError = PayloadTooLarge | UnsupportedMediaType | InvalidBody

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

/** JSON.parse over UTF-8 bytes; anything else is a 400 for the whole body. */
export const parseJson = (bytes: Uint8Array): Effect.Effect<unknown, InvalidBody> =>
  Effect.try({
    try: (): unknown => JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")),
    catch: () => new InvalidBody({ message: "body is not valid JSON" })
  })
