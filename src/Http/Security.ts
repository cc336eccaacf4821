/**
 * Response hardening and browser access, applied by the server wiring to every response (errors and answers given
 * before routing included):
 * - `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` with CSP `frame-ancestors 'none'`,
 *   `Referrer-Policy: no-referrer`, a locked-down CSP for API answers (`/docs` sends its own, see Docs.ts),
 *   `Cache-Control: no-store` unless the response set one, HSTS when `THREADLINE_HSTS_MAX_AGE_SECONDS` is set;
 * - CORS for the origins in `THREADLINE_CORS_ORIGINS` (exact `scheme://host[:port]` matches, credentials allowed,
 *   so never a wildcard); other origins get no CORS headers and the browser refuses the answer;
 * - limits: bodies (413; ingestion routes `THREADLINE_MAX_BODY_BYTES`, default 10 MiB; every other route
 *   `THREADLINE_MAX_JSON_BODY_BYTES`, default 16 KiB), the body discarded after an early answer
 *   (`THREADLINE_DISCARD_MAX_BYTES`, `THREADLINE_DISCARD_MAX_MS`) and handler time
 *   (`THREADLINE_REQUEST_TIMEOUT_MS`, default 30 s). A request that runs out of time is interrupted and answered
 *   503 `RequestTimeout` with `Retry-After: 1`: the server is the origin, not a gateway, so 504 would mislead, and
 *   503 is what clients and load balancers already retry.
 */
import { Config, Effect, Option } from "effect"
import { AppConfig } from "../Config.js"

export interface SecurityOptions {
  readonly corsOrigins: ReadonlyArray<string>
  readonly hstsMaxAgeSeconds: Option.Option<number>
  /** Ingestion routes (INGEST_PATHS). */
  readonly maxBodyBytes: number
  /** Every other route (never more than `maxBodyBytes`). */
  readonly maxJsonBodyBytes: number
  /**
   * An answer given before the request's body was read whole (413, 401 …) is sent, then the rest of the body is
   * read and discarded — at most this many bytes, for at most this long — before the connection is closed, so a
   * client still uploading reads the answer instead of a reset connection.
   */
  readonly discardMaxBytes: number
  readonly discardMaxMs: number
  readonly requestTimeoutMs: number
  /** Whether 500 bodies carry the pretty cause (development only). */
  readonly exposeStack: boolean
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
export const DEFAULT_MAX_JSON_BODY_BYTES = 16 * 1024
export const DEFAULT_DISCARD_MAX_BYTES = 64 * 1024 * 1024
export const DEFAULT_DISCARD_MAX_MS = 5_000

/** The routes that take large bodies (each path and what is under it); all others take small JSON bodies. */
export const INGEST_PATHS: ReadonlyArray<string> = ["/api/v1/ingest", "/v1/otlp/logs"]

/** The body limit of a request to `url` (path and query as sent). */
export const bodyLimitFor = (options: SecurityOptions, url: string): number => {
  const q = url.indexOf("?")
  const path = q === -1 ? url : url.slice(0, q)
  for (const p of INGEST_PATHS) {
    if (path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47)) return options.maxBodyBytes
  }
  return Math.min(options.maxJsonBodyBytes, options.maxBodyBytes)
}

/** Settings of the HTTP area; read here rather than in Config.ts, which this area does not own. */
export const securityOptions: Effect.Effect<SecurityOptions, never, AppConfig> = Effect.gen(function* () {
  const app = yield* AppConfig
  const read = Effect.all({
    hstsMaxAgeSeconds: Config.option(Config.integer("THREADLINE_HSTS_MAX_AGE_SECONDS")),
    maxBodyBytes: Config.integer("THREADLINE_MAX_BODY_BYTES").pipe(Config.withDefault(DEFAULT_MAX_BODY_BYTES)),
    maxJsonBodyBytes: Config.integer("THREADLINE_MAX_JSON_BODY_BYTES").pipe(
      Config.withDefault(DEFAULT_MAX_JSON_BODY_BYTES)
    ),
    discardMaxBytes: Config.integer("THREADLINE_DISCARD_MAX_BYTES").pipe(Config.withDefault(DEFAULT_DISCARD_MAX_BYTES)),
    discardMaxMs: Config.integer("THREADLINE_DISCARD_MAX_MS").pipe(Config.withDefault(DEFAULT_DISCARD_MAX_MS)),
    requestTimeoutMs: Config.integer("THREADLINE_REQUEST_TIMEOUT_MS").pipe(Config.withDefault(30_000))
  })
  const settings = yield* Effect.orDie(read)
  return {
    corsOrigins: app.corsOrigins,
    hstsMaxAgeSeconds: Option.filter(settings.hstsMaxAgeSeconds, (s) => s > 0),
    maxBodyBytes: settings.maxBodyBytes,
    maxJsonBodyBytes: settings.maxJsonBodyBytes,
    discardMaxBytes: Math.max(0, settings.discardMaxBytes),
    discardMaxMs: Math.max(0, settings.discardMaxMs),
    requestTimeoutMs: settings.requestTimeoutMs,
    exposeStack: app.env === "development"
  }
})

export const API_CSP = "default-src 'none'; frame-ancestors 'none'"
const ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
const ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, X-API-Key, X-Request-Id, traceparent"
const EXPOSED_HEADERS = "X-Request-Id, Retry-After"

export interface Security {
  /** The headers every response carries before its own (the response's own win). */
  readonly baseHeaders: Readonly<Record<string, string>>
  /** CORS headers for a request from `origin`, or undefined when the origin is not allowed. */
  readonly cors: (origin: string | undefined) => Readonly<Record<string, string>> | undefined
  /** A CORS preflight answer: headers for status 204. */
  readonly preflight: (origin: string | undefined) => Readonly<Record<string, string>>
}

export const makeSecurity = (options: SecurityOptions): Security => {
  const baseHeaders: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": API_CSP,
    "cache-control": "no-store"
  }
  if (Option.isSome(options.hstsMaxAgeSeconds)) {
    baseHeaders["strict-transport-security"] = `max-age=${options.hstsMaxAgeSeconds.value}; includeSubDomains`
  }
  const allowed = new Set(options.corsOrigins.filter((o) => o !== "*"))
  const corsFor = new Map<string, Readonly<Record<string, string>>>()
  for (const origin of allowed) {
    corsFor.set(origin, {
      "access-control-allow-origin": origin,
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": EXPOSED_HEADERS,
      vary: "Origin"
    })
  }
  const vary = { vary: "Origin" } as const
  return {
    baseHeaders,
    cors: (origin) =>
      origin === undefined ? undefined : (corsFor.get(origin) ?? (allowed.size > 0 ? vary : undefined)),
    preflight: (origin) => {
      const cors = origin === undefined ? undefined : corsFor.get(origin)
      return cors === undefined
        ? vary
        : {
            ...cors,
            "access-control-allow-methods": ALLOWED_METHODS,
            "access-control-allow-headers": ALLOWED_HEADERS,
            "access-control-max-age": "600"
          }
    }
  }
}

/**
 * Body media types the API takes at all (JSON, and protobuf for OTLP); anything else is 415 before routing.
 * A body without `Content-Type` is treated as JSON, as the platform's payload decoding does.
 */
export const acceptsContentType = (header: string | undefined): boolean => {
  if (header === undefined) return true
  const mime = (header.split(";")[0] ?? "").trim().toLowerCase()
  return (
    mime === "" ||
    mime === "application/json" ||
    (mime.startsWith("application/") && mime.endsWith("+json")) ||
    mime === "application/x-protobuf" ||
    mime === "application/protobuf"
  )
}
