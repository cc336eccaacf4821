/**
 * One pipeline from whatever a request ended in to the error body of Errors.ts:
 * - a tagged error with a declared status (its own annotation, the same one OpenAPI reads) → that status;
 * - validation (`HttpApiDecodeError`, a Schema `ParseError`) → 400 with the failing paths in `details`;
 * - an unknown route → 404; a body that cannot be read → 400, or 413 past the limit;
 * - a Postgres data exception (SQLSTATE class 22: a value the database refuses) → 400 `ValidationError`, generic
 *   (routes that can name the parameter validate it before the database does), logged as a warning for operators;
 * - Postgres or Redis unreachable, as a failure or a defect anywhere in the cause → 503;
 * - anything else → 500 without internals (the pretty cause only when `exposeStack`, i.e. development).
 * `Retry-After` comes from a numeric `retryAfterSeconds` field (TooManyRequests, the logs quota error), and an
 * array `details` field is passed on as `details`.
 * The server wiring (NodeHandler.ts) applies it to whatever a route ends in; routes are dispatched without the
 * platform's error encoding, so typed errors reach it as values rather than as the platform's `{ _tag, … }` JSON.
 */
import { HttpApiSchema, type HttpApp, HttpServerResponse } from "@effect/platform"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import { Cause, Effect, Option, ParseResult } from "effect"
import { errorJson, PayloadTooLarge } from "./Errors.js"
import { RequestContext, type RequestContextData } from "../RequestContext.js"
import * as RequestId from "./RequestId.js"

export interface Classified {
  readonly status: number
  readonly name: string
  readonly message: string
  readonly details?: ReadonlyArray<unknown>
  readonly retryAfterSeconds?: number
  /** Whether the cause deserves an error-level log line (5xx). */
  readonly log: boolean
  /** Fields of a warning line for a 4xx operators should still see (a data exception), never values or SQL. */
  readonly warn?: Record<string, string>
}

type Tagged = { readonly _tag: string; readonly message?: unknown }
const isTagged = (u: unknown): u is Tagged =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string"

/** The status a tagged error declares through `HttpApiSchema.annotations({ status })`, if any. */
const declaredStatus = (error: Tagged): number | undefined => {
  const ast = (error.constructor as { ast?: Parameters<typeof HttpApiSchema.getStatus>[0] }).ast
  if (ast === undefined) return undefined
  const status = HttpApiSchema.getStatus(ast, 0)
  return status >= 400 && status <= 599 ? status : undefined
}

const pathOf = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

/**
 * A Postgres "data exception" (SQLSTATE class 22: a value out of range, a date the database cannot hold, an
 * invalid number or text): the request carried a value the database refuses, not a database that is down.
 */
export const isDataException = (u: unknown, depth = 0): boolean => {
  if (typeof u !== "object" || u === null || depth > 3) return false
  const e = u as { _tag?: unknown; code?: unknown; cause?: unknown }
  if (e._tag === "SqlError") {
    const code = (e.cause as { code?: unknown } | null | undefined)?.code
    return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code)
  }
  return isDataException(e.cause, depth + 1)
}

/**
 * What a data exception's Postgres error names without its values: the SQLSTATE and the identifiers (routine,
 * constraint, schema, table, column, type). Its message, detail and hint quote values, and are left out.
 */
export const dataExceptionFields = (u: unknown, depth = 0): Record<string, string> | undefined => {
  if (typeof u !== "object" || u === null || depth > 3) return undefined
  const e = u as { _tag?: unknown; cause?: unknown }
  if (e._tag !== "SqlError") return dataExceptionFields(e.cause, depth + 1)
  const pg = (e.cause ?? {}) as Record<string, unknown>
  const fields: Record<string, string> = {}
  const names = {
    sqlstate: "code",
    routine: "routine",
    constraint: "constraint",
    schema: "schema",
    table: "table",
    column: "column",
    dataType: "dataType"
  }
  for (const [key, from] of Object.entries(names)) {
    const value = pg[from]
    if (typeof value === "string" && value !== "") fields[key] = value
  }
  return fields
}

const INFRA_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE"])

/** Postgres or Redis not reachable: SqlError, the queue's RedisUnavailable, ioredis connection failures. */
export const isDependencyDown = (u: unknown, depth = 0): boolean => {
  if (typeof u !== "object" || u === null || depth > 3) return false
  const e = u as { _tag?: unknown; name?: unknown; code?: unknown; message?: unknown; cause?: unknown }
  if (e._tag === "SqlError" || e._tag === "RedisUnavailable" || e.name === "MaxRetriesPerRequestError") return true
  if (typeof e.code === "string" && INFRA_CODES.has(e.code)) return true
  if (typeof e.message === "string" && e.message.startsWith("Connection is closed")) return true
  return isDependencyDown(e.cause, depth + 1)
}

/**
 * A field of type `T | undefined` or `T | null` that fails is reported once per union member: the real reason, and
 * "Expected undefined/null, actual …" for the other member. Those say nothing to a client, so they are dropped when
 * the same path, or a path inside it, has a real reason.
 */
const isUnionNoise = (message: string) => /^Expected (undefined|null), actual /.test(message)
const withoutOptionalNoise = (details: ReadonlyArray<{ readonly path: string; readonly message: string }>) =>
  details.filter(
    (d) =>
      !isUnionNoise(d.message) ||
      !details.some(
        (o) => !isUnionNoise(o.message) && (o.path === d.path || d.path === "" || o.path.startsWith(`${d.path}.`))
      )
  )

const fromTagged = (error: Tagged, exposeStack: boolean): Classified | undefined => {
  if (error instanceof HttpApiDecodeError) {
    return {
      status: 400,
      name: "HttpApiDecodeError",
      message: "The request did not match the expected schema",
      details: withoutOptionalNoise(error.issues.map((i) => ({ path: pathOf(i.path), message: i.message }))),
      log: false
    }
  }
  if (ParseResult.isParseError(error)) {
    return {
      status: 400,
      name: "ValidationError",
      message: "The request did not match the expected schema",
      details: withoutOptionalNoise(
        ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => ({ path: pathOf(i.path), message: i.message }))
      ),
      log: false
    }
  }
  if (error._tag === "RouteNotFound") return { status: 404, name: "NotFound", message: "Route not found", log: false }
  if (error._tag === "RequestError") {
    const inner = (error as { cause?: unknown }).cause
    return inner instanceof PayloadTooLarge
      ? { status: 413, name: "PayloadTooLarge", message: inner.message, log: false }
      : { status: 400, name: "BadRequest", message: "The request body could not be read", log: false }
  }
  const status = declaredStatus(error)
  if (status === undefined) return undefined
  const retry = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
  const details = (error as { details?: unknown }).details
  const message = typeof error.message === "string" && error.message !== "" ? error.message : error._tag
  return {
    status,
    name: error._tag,
    // A declared 5xx is still an internal matter: its message is shown only where stacks are.
    message: status >= 500 && status !== 503 && !exposeStack ? "Internal Server Error" : message,
    ...(typeof retry === "number" && Number.isFinite(retry)
      ? { retryAfterSeconds: Math.max(0, Math.ceil(retry)) }
      : {}),
    ...(Array.isArray(details) ? { details: details as ReadonlyArray<unknown> } : {}),
    log: status >= 500
  }
}

export const classify = (cause: Cause.Cause<unknown>, exposeStack: boolean): Classified => {
  const failure = Cause.failureOption(cause)
  const candidates = Option.isSome(failure) ? [failure.value, ...Cause.defects(cause)] : [...Cause.defects(cause)]
  for (const candidate of candidates) {
    if (!isTagged(candidate)) continue
    const known = fromTagged(candidate, exposeStack)
    if (known !== undefined) return known
  }
  // before the 503 below: a SqlError that is the database refusing a value is the client's error, never shown as SQL
  const dataException = candidates.find((c) => isDataException(c))
  if (dataException !== undefined) {
    const warn = dataExceptionFields(dataException) ?? {}
    return { status: 400, name: "ValidationError", message: "invalid parameter value", log: false, warn }
  }
  if (candidates.some((c) => isDependencyDown(c))) {
    return { status: 503, name: "ServiceUnavailable", message: "A dependency is unavailable", log: true }
  }
  if (candidates.length === 0 && Cause.isInterruptedOnly(cause)) {
    return { status: 503, name: "ServiceUnavailable", message: "The request was interrupted", log: false }
  }
  return {
    status: 500,
    name: "InternalServerError",
    message: "Internal Server Error",
    ...(exposeStack ? { details: [{ message: Cause.pretty(cause) }] } : {}),
    log: true
  }
}

export const toResponse = (c: Classified, reqId: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(errorJson(c.status, c.name, c.message, reqId, c.details), {
    status: c.status,
    contentType: "application/json",
    ...(c.retryAfterSeconds !== undefined ? { headers: { "retry-after": String(c.retryAfterSeconds) } } : {})
  })

const inRequest = (line: Effect.Effect<void>, reqId: string, context: RequestContextData | undefined) =>
  context === undefined ? Effect.annotateLogs(line, { requestId: reqId }) : RequestContext.withContext(context)(line)

/**
 * The log line of a request that failed, with the request's annotations like every line inside it: the pipeline
 * runs outside the handler, where the RequestContext authentication provided is gone, so it is given back here
 * (`context`: what the request settled on, from RequestState) or, before authentication, the request id alone.
 */
export const logFailure = (
  message: string,
  fields: Record<string, unknown>,
  cause: Cause.Cause<unknown>,
  reqId: string,
  context: RequestContextData | undefined
): Effect.Effect<void> => inRequest(Effect.logError(message, fields, cause), reqId, context)

/**
 * The answer for a request that ended in `cause`; 5xx causes are logged with the request's id and, once
 * authentication settled it, its tenant (`context`). A data exception's 400 gets a warning line (it may be a server
 * bug) with its SQLSTATE and identifiers only: the cause is not attached, its pretty form quotes the values.
 */
export const recover = (
  cause: Cause.Cause<unknown>,
  reqId: string,
  exposeStack: boolean,
  context?: RequestContextData
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const classified = classify(cause, exposeStack)
  const response = toResponse(classified, reqId)
  if (classified.log) {
    return Effect.as(logFailure("request failed", { status: classified.status }, cause, reqId, context), response)
  }
  if (classified.warn !== undefined) {
    const line = Effect.logWarning("request refused by the database", { status: classified.status, ...classified.warn })
    return Effect.as(inRequest(line, reqId, context), response)
  }
  return Effect.succeed(response)
}

/**
 * The same pipeline as an HttpApi-level middleware, for an Api served by the platform's own `HttpApiBuilder.serve`
 * (whose error encoding would otherwise answer with the platform's `{ _tag, … }` bodies). Our server wiring
 * applies `recover` itself (NodeHandler.ts) and does not need it.
 */
export const middleware =
  (options: { readonly exposeStack: boolean }) =>
  (app: HttpApp.Default): HttpApp.Default =>
    Effect.catchAllCause(app, (cause) =>
      Effect.flatMap(RequestId.current, (reqId) => recover(cause, reqId, options.exposeStack))
    )
