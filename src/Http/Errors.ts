/**
 * The errors that cross HTTP and the one body they all become (API.md "Conventions"):
 * `{ error: true, code, name, message, reqId, details? }`. Each class carries its status beside it (the
 * `HttpApiSchema` annotation the OpenAPI document also reads); ErrorPipeline.ts turns any failure, defect or
 * platform error into this body, and the server wiring uses `errorJson` for the answers it gives before routing
 * (413, 415, preflight, timeouts).
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

export const ErrorDetail = Schema.Struct({
  path: Schema.optional(Schema.String),
  message: Schema.String
}).annotations({ identifier: "ErrorDetail" })
export type ErrorDetail = typeof ErrorDetail.Type

export const ErrorBody = Schema.Struct({
  error: Schema.Literal(true),
  code: Schema.Int.annotations({ description: "the HTTP status" }),
  name: Schema.String.annotations({ description: "the error's name, e.g. Unauthorized, HttpApiDecodeError" }),
  message: Schema.String,
  reqId: Schema.String.annotations({ description: "the request id, also sent as X-Request-Id" }),
  details: Schema.optional(Schema.Array(Schema.Unknown)).annotations({
    description: "400: the failing paths `{ path, message }`"
  })
}).annotations({ identifier: "ErrorBody", description: "Every error response has this shape" })
export type ErrorBody = typeof ErrorBody.Type

/** The body as JSON text; pure, so it can be used outside any fiber. */
export const errorJson = (
  code: number,
  name: string,
  message: string,
  reqId: string,
  details?: ReadonlyArray<unknown>
): string =>
  JSON.stringify(
    details === undefined || details.length === 0
      ? { error: true, code, name, message, reqId }
      : { error: true, code, name, message, reqId, details }
  )

const fields = { message: Schema.String }

/** 400: the request is malformed in a way the schemas do not describe. */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  fields,
  HttpApiSchema.annotations({ status: 400 })
) {}

/** 401: credentials are missing or invalid. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  fields,
  HttpApiSchema.annotations({ status: 401 })
) {}

/** 403: authenticated, but not allowed to do this. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  fields,
  HttpApiSchema.annotations({ status: 403 })
) {}

/** 404: unknown, or not visible to this tenant; the two are never told apart. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  fields,
  HttpApiSchema.annotations({ status: 404 })
) {}

/** 409: the request conflicts with the current state (a duplicate slug, email, name). */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  fields,
  HttpApiSchema.annotations({ status: 409 })
) {}

/** 413: the body is larger than the configured limit. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  fields,
  HttpApiSchema.annotations({ status: 413 })
) {}

/** 415: a content type (or content encoding) this endpoint does not take. */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  fields,
  HttpApiSchema.annotations({ status: 415 })
) {}

/** 429: rate limited or over quota; `retryAfterSeconds` is sent as `Retry-After`. */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()(
  "TooManyRequests",
  { message: Schema.String, retryAfterSeconds: Schema.Number },
  HttpApiSchema.annotations({ status: 429 })
) {}

/** 503: a dependency (Postgres, Redis) is unavailable, or the request ran out of time. */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  fields,
  HttpApiSchema.annotations({ status: 503 })
) {}
