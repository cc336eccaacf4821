/**
 * The one HTTP client for calls leaving Threadline (webhooks today). Every request it sends carries the unit of
 * work's `X-Request-Id`, a W3C `traceparent` in the context's trace (a new span id, or a fresh trace when the context
 * has none), `User-Agent: Threadline/<version>` and a timeout. Reading the context inside `mapRequestEffect` puts
 * `RequestContext` into every call's requirements, so an outbound call outside a unit of work does not compile
 * (test/types/Outbound.types.ts).
 *
 * Transport: undici (`NodeHttpClient.makeUndici`) on our own `Agent`, because undici lets us replace the connector:
 * `GuardedConnector` resolves, checks and dials the checked address itself, which closes DNS rebinding for every
 * socket the pool opens. Interrupting the request (the timeout) aborts it through the client's AbortSignal.
 * Redirects are not followed: a 3xx could point anywhere, including inside the network.
 */
import { readFileSync } from "node:fs"
import { HttpClient, type HttpClientError, HttpClientRequest } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Agent } from "@effect/platform-node/Undici"
import { Config, type ConfigError, Context, Duration, Effect, Layer, Schema } from "effect"
import { AppConfig } from "../Config.js"
import { RequestContext, Traceparent } from "../RequestContext.js"
import { DestinationRefused, OutboundTimeout } from "./Outbound/Errors.js"
import {
  guardedConnector,
  RefusedAddress,
  type Resolver,
  resolveChecked,
  systemResolver
} from "./Outbound/GuardedConnector.js"

export { DestinationRefused, OutboundTimeout } from "./Outbound/Errors.js"
export type { Resolver } from "./Outbound/GuardedConnector.js"

export type OutboundError = HttpClientError.HttpClientError | DestinationRefused | OutboundTimeout

export interface OutboundOptions {
  /** THREADLINE_ALLOW_PRIVATE_WEBHOOKS: lets development and tests reach loopback and private networks. */
  readonly allowPrivate: boolean
  /** Until the response head arrives; the body is the caller's to bound. */
  readonly timeoutMs: number
  /** Defaults to the system resolver (`dns.lookup`); tests inject one. */
  readonly resolver?: Resolver
  /** Sockets per origin, so one slow receiver cannot take every socket. */
  readonly connectionsPerOrigin?: number
  /** Extra CA certificates (PEM) trusted for receivers, added to Node's bundle. */
  readonly ca?: ReadonlyArray<string>
}

/** Checks a destination up front (when a webhook URL is saved); delivery checks again at connect time. */
export interface OutboundGuardService {
  readonly check: (url: string) => Effect.Effect<void, DestinationRefused>
}

export class OutboundGuard extends Context.Tag("Http/OutboundGuard")<OutboundGuard, OutboundGuardService>() {}

const PackageVersion = Schema.parseJson(Schema.Struct({ version: Schema.String }))

const userAgent: Effect.Effect<string> = Effect.try(() =>
  readFileSync(new URL("../../package.json", import.meta.url), "utf8")
).pipe(
  Effect.flatMap(Schema.decode(PackageVersion)),
  Effect.map(({ version }) => `Threadline/${version}`),
  Effect.orDie
)

const parseUrl = (url: string): URL | null => (URL.canParse(url) ? new URL(url) : null)
const originOf = (url: string): string => parseUrl(url)?.origin ?? "(invalid url)"

/** Only http(s): undici would refuse the rest less clearly. */
const schemeRefusal = (url: string): DestinationRefused | null => {
  const parsed = parseUrl(url)
  if (parsed === null) return new DestinationRefused({ host: "(invalid url)", address: null, reason: "invalid url" })
  if (parsed.protocol === "http:" || parsed.protocol === "https:") return null
  return new DestinationRefused({ host: parsed.host, address: null, reason: `scheme ${parsed.protocol} not allowed` })
}

/** The reason `check` gives for a host that resolves to nothing. */
export const UNRESOLVED = "host does not resolve"

/**
 * Whether a refusal depends on what the host resolves to or on its address class, rather than on the URL's syntax.
 * Such a refusal's detail is for operators only: told to a tenant, it maps names inside the platform's network.
 */
export const dependsOnNetwork = (refused: DestinationRefused): boolean =>
  refused.address !== null || refused.reason === UNRESOLVED

const fromRefused = (refused: RefusedAddress): DestinationRefused =>
  new DestinationRefused({ host: refused.host, address: refused.address, reason: refused.range })

const contextHeaders = (agent: string) => (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function* () {
    const ctx = yield* RequestContext
    const refused = schemeRefusal(request.url)
    if (refused !== null) return yield* refused
    return HttpClientRequest.setHeaders(request, {
      "x-request-id": ctx.requestId,
      traceparent: Traceparent.child(ctx.traceparent),
      "user-agent": agent
    })
  })

export const make = (options: OutboundOptions) =>
  Effect.gen(function* () {
    const agentName = yield* userAgent
    const guard = {
      allowPrivate: options.allowPrivate,
      resolver: options.resolver ?? systemResolver,
      connectTimeoutMs: options.timeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca })
    }
    const agent = yield* Effect.acquireRelease(
      Effect.sync(
        () => new Agent({ connect: guardedConnector(guard), connections: options.connectionsPerOrigin ?? 16 })
      ),
      (agent) => Effect.promise(() => agent.destroy())
    )
    const timeout = Duration.millis(options.timeoutMs)
    const client: HttpClient.HttpClient.With<OutboundError, RequestContext> = NodeHttpClient.makeUndici(agent).pipe(
      HttpClient.mapRequestEffect(contextHeaders(agentName)),
      // The platform span records the full URL (tokens included) and would overwrite our traceparent; ours below
      // names the origin only.
      HttpClient.withTracerDisabledWhen(() => true),
      HttpClient.transform((effect, request) =>
        effect.pipe(
          Effect.mapError((error) =>
            error._tag === "RequestError" && error.cause instanceof RefusedAddress ? fromRefused(error.cause) : error
          ),
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new OutboundTimeout({ origin: originOf(request.url), timeoutMs: options.timeoutMs })
          }),
          Effect.withSpan("Outbound.request", {
            kind: "client",
            captureStackTrace: false,
            attributes: { "http.request.method": request.method, "server.address": originOf(request.url) }
          })
        )
      )
    )
    const check = (url: string): Effect.Effect<void, DestinationRefused> => {
      const refused = schemeRefusal(url)
      if (refused !== null) return Effect.fail(refused)
      const host = new URL(url).hostname
      return Effect.tryPromise({
        try: () => resolveChecked(host, guard),
        catch: (cause) =>
          cause instanceof RefusedAddress
            ? fromRefused(cause)
            : new DestinationRefused({ host, address: null, reason: UNRESOLVED })
      }).pipe(Effect.asVoid, Effect.withSpan("Outbound.check"))
    }
    return Context.make(Outbound, client).pipe(Context.add(OutboundGuard, { check }))
  })

/** `yield* Outbound` gives the HttpClient; its calls require `RequestContext`. */
export class Outbound extends Context.Tag("Http/Outbound")<
  Outbound,
  HttpClient.HttpClient.With<OutboundError, RequestContext>
>() {
  static readonly layerWith = (options: OutboundOptions): Layer.Layer<Outbound | OutboundGuard> =>
    Layer.scopedContext(make(options))

  /** From configuration: AppConfig.allowPrivateWebhooks and THREADLINE_OUTBOUND_TIMEOUT_MS (default 10 s). */
  static readonly layer: Layer.Layer<Outbound | OutboundGuard, ConfigError.ConfigError, AppConfig> = Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const timeoutMs = yield* Config.integer("THREADLINE_OUTBOUND_TIMEOUT_MS").pipe(Config.withDefault(10_000))
      return Outbound.layerWith({ allowPrivate: config.allowPrivateWebhooks, timeoutMs })
    })
  )
}
