/**
 * One webhook attempt: build the body and headers, sign, send through `Outbound`, classify. It never fails: every
 * way an attempt can end is an `AttemptResult` the delivery job records (status, duration, error) and acts on
 * (`delivered`, `retry` after `Backoff.nextDelay`, or `final`).
 *
 * Error texts name the host or origin, never the URL (webhook URLs often embed a token), and never the secret. They
 * are shown to the organization's admins, so they never carry an address the host resolved to: a refused
 * destination is one generic `destination refused` (the details — host, address, range — go to the worker's log,
 * for operators), a network error only its code. Otherwise a webhook pointed at an internal name would tell the
 * tenant what that name resolves to inside the platform's network.
 */
import { HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Clock, Duration, Effect, Either, type Redacted, Stream } from "effect"
import { type DestinationRefused, Outbound, type OutboundError } from "../Http/Outbound.js"
import type { RequestContext } from "../RequestContext.js"
import { classifyStatus, type Outcome, parseRetryAfter } from "./Backoff.js"
import { sign } from "./Signature.js"
import { toBody, type WebhookPayload } from "./WebhookPayload.js"

export interface WebhookDelivery {
  readonly url: string
  readonly secret: Redacted.Redacted<string>
  readonly payload: WebhookPayload
}

export interface AttemptResult {
  readonly outcome: Outcome
  /** The receiver's status; `null` when no response came (network error, timeout, refused destination). */
  readonly status: number | null
  readonly durationMs: number
  readonly error?: string
  /** From a `Retry-After` header on a retryable answer. */
  readonly retryAfter?: Duration.Duration
}

/** Enough of a receiver's error body to diagnose it; the rest is not read. */
const EXCERPT_CHARS = 200

const excerpt = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
  response.stream.pipe(
    Stream.decodeText(),
    Stream.runFoldWhile(
      "",
      (text) => text.length < EXCERPT_CHARS,
      (text, chunk) => text + chunk
    ),
    Effect.map((text) =>
      text
        .slice(0, EXCERPT_CHARS)
        .replace(/[\u0000-\u001f\u007f]+/g, " ")
        .trim()
    ),
    Effect.timeout(Duration.seconds(2)),
    Effect.orElseSucceed(() => "")
  )

/** The one text stored for every refused destination, whatever the reason and address. */
export const DESTINATION_REFUSED = "destination refused"

/** `ECONNREFUSED`: the code only; the address dialled (a resolved address) stays out of what tenants see. */
const transportDetail = (cause: unknown): string => {
  if (!(cause instanceof Error)) return "transport failure"
  const { code } = cause as Error & { code?: unknown }
  return typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code) ? code : "transport failure"
}

const describeFailure = (error: OutboundError): { readonly outcome: Outcome; readonly error: string } => {
  switch (error._tag) {
    case "DestinationRefused":
      return { outcome: "final", error: DESTINATION_REFUSED }
    case "OutboundTimeout":
      return { outcome: "retry", error: error.message }
    case "RequestError": {
      if (error.reason !== "Transport") return { outcome: "final", error: `request not sent: ${error.reason}` }
      return { outcome: "retry", error: `network error: ${transportDetail(error.cause)}` }
    }
    case "ResponseError":
      return { outcome: "retry", error: `response error: ${error.reason}` }
  }
}

export class WebhookSender extends Effect.Service<WebhookSender>()("Alerts/WebhookSender", {
  effect: Effect.gen(function* () {
    const client = yield* Outbound

    // No stack capture per attempt: it showed in the CPU profile of bench/outbound.ts; the span name finds this code.
    const send = Effect.fn("WebhookSender.send", { captureStackTrace: false })(function* (
      delivery: WebhookDelivery
    ): Effect.fn.Return<AttemptResult, never, RequestContext> {
      const body = yield* Effect.sync(() => toBody(delivery.payload))
      const startedMs = yield* Clock.currentTimeMillis
      const request = HttpClientRequest.post(delivery.url).pipe(
        HttpClientRequest.bodyText(body, "application/json"),
        HttpClientRequest.setHeaders(sign(delivery.secret, body, Math.floor(startedMs / 1000)))
      )
      const answer = yield* Effect.either(client.execute(request))
      const elapsed = (yield* Clock.currentTimeMillis) - startedMs
      if (Either.isLeft(answer)) {
        const failure = answer.left
        if (failure._tag === "DestinationRefused") {
          // for operators: why, and what the host resolved to (never stored where the tenant reads it)
          yield* Effect.logWarning("webhook destination refused", {
            host: (failure satisfies DestinationRefused).host,
            address: failure.address,
            reason: failure.reason
          })
        }
        return { status: null, durationMs: elapsed, ...describeFailure(failure) }
      }
      const response = answer.right
      const outcome = classifyStatus(response.status)
      if (outcome === "delivered") {
        // Drain a short reply so the socket can serve the next delivery; a long one is cut and the socket dropped.
        yield* excerpt(response)
        return { outcome, status: response.status, durationMs: elapsed }
      }
      const text = yield* excerpt(response)
      const retryAfter = outcome === "retry" ? parseRetryAfter(response.headers["retry-after"], startedMs) : undefined
      return {
        outcome,
        status: response.status,
        durationMs: elapsed,
        error: text === "" ? `HTTP ${response.status}` : `HTTP ${response.status}: ${text}`,
        ...(retryAfter === undefined ? {} : { retryAfter })
      }
    })

    return { send } as const
  }),
  dependencies: [Outbound.layer]
}) {}
