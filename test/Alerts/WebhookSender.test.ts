/**
 * One webhook attempt against real loopback receivers: what the receiver gets (and can verify), and how each way an
 * attempt ends is classified.
 */
import { createServer } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import { nextDelay } from "../../src/Alerts/Backoff.js"
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verify } from "../../src/Alerts/Signature.js"
import { fromBody, makeEventId, type WebhookPayload } from "../../src/Alerts/WebhookPayload.js"
import { type AttemptResult, WebhookSender } from "../../src/Alerts/WebhookSender.js"
import { Outbound, type OutboundOptions } from "../../src/Http/Outbound.js"
import { RequestContext, type RequestContextData } from "../../src/RequestContext.js"
import { contextFor, receiver, type Script } from "../Http/OutboundSupport.js"

const secret = Redacted.make("whsec_receiver_shared_secret")
const TOKEN = "tok_SECRETPATH42"

const payloadFor = (ctx: RequestContextData): WebhookPayload => ({
  id: makeEventId(),
  type: "alert.triggered",
  version: 1,
  occurredAt: new Date("2025-03-01T10:00:00.000Z"),
  organizationId: ctx.organizationId,
  projectId: ctx.projectId,
  data: {
    ruleId: "rul_1",
    ruleName: "Errors in checkout",
    count: 12,
    threshold: 10,
    windowMinutes: 5,
    from: new Date("2025-03-01T09:55:00.000Z"),
    to: new Date("2025-03-01T10:00:00.000Z")
  }
})

const senderWith = (options: OutboundOptions) =>
  WebhookSender.DefaultWithoutDependencies.pipe(Layer.provide(Outbound.layerWith(options)))
const local = senderWith({ allowPrivate: true, timeoutMs: 2_000 })

const attempt = (url: string, ctx = contextFor()) =>
  Effect.flatMap(WebhookSender, (sender) => sender.send({ url, secret, payload: payloadFor(ctx) })).pipe(
    RequestContext.withContext(ctx)
  )

/** Sends once to a receiver following `script`; returns the result and what the receiver saw. */
const against = (script: Script, path = `/hook/${TOKEN}`) =>
  Effect.gen(function* () {
    const r = yield* receiver(script)
    const result = yield* attempt(r.url(path))
    return { result, received: r.received }
  })

const noLeaks = (result: AttemptResult) => {
  expect(result.error ?? "").not.toContain(TOKEN)
  expect(result.error ?? "").not.toContain(Redacted.value(secret))
}

describe("WebhookSender.send", () => {
  it.scopedLive("200: delivered; the receiver verifies the signature and sees the context's request id", () =>
    Effect.gen(function* () {
      const r = yield* receiver()
      const ctx = contextFor()
      const payload = payloadFor(ctx)
      const result = yield* Effect.flatMap(WebhookSender, (s) => s.send({ url: r.url(), secret, payload })).pipe(
        RequestContext.withContext(ctx)
      )
      expect(result).toMatchObject({ outcome: "delivered", status: 200 })
      expect(result.durationMs).toBeGreaterThanOrEqual(0)
      const [seen] = r.received
      expect(seen!.method).toBe("POST")
      expect(seen!.headers["content-type"]).toBe("application/json")
      expect(seen!.headers["x-request-id"]).toBe(ctx.requestId)
      const verified = verify({
        secret: "whsec_receiver_shared_secret",
        body: seen!.body,
        signatureHeader: seen!.headers[SIGNATURE_HEADER] as string,
        timestampHeader: seen!.headers[TIMESTAMP_HEADER] as string
      })
      expect(Either.isRight(verified)).toBe(true)
      expect(fromBody(seen!.body)).toEqual(Either.right(payload))
    }).pipe(Effect.provide(local))
  )

  it.scopedLive("500 and 503 are retried (Retry-After kept), 429 too; the error carries a short excerpt", () =>
    Effect.gen(function* () {
      const boom = yield* against(() => ({ status: 500, body: "boom\n" + "x".repeat(10_000) }))
      expect(boom.result).toMatchObject({ outcome: "retry", status: 500 })
      expect(boom.result.error).toBe(`HTTP 500: boom ${"x".repeat(195)}`)
      noLeaks(boom.result)
      const busy = yield* against(() => ({ status: 503, headers: { "retry-after": "30" } }))
      expect(busy.result).toMatchObject({ outcome: "retry", status: 503, error: "HTTP 503" })
      expect(busy.result.retryAfter).toEqual(Duration.seconds(30))
      const limited = yield* against(() => ({ status: 429 }))
      expect(limited.result).toMatchObject({ outcome: "retry", status: 429 })
    }).pipe(Effect.provide(local))
  )

  it.scopedLive("400 and 404 are final; a redirect is final and not followed", () =>
    Effect.gen(function* () {
      expect((yield* against(() => ({ status: 400, body: "bad" }))).result).toMatchObject({
        outcome: "final",
        status: 400,
        error: "HTTP 400: bad"
      })
      expect((yield* against(() => ({ status: 404 }))).result).toMatchObject({ outcome: "final", status: 404 })
      const target = yield* receiver()
      const moved = yield* against(() => ({ status: 307, headers: { location: target.url("/elsewhere") } }))
      expect(moved.result).toMatchObject({ outcome: "final", status: 307 })
      expect(target.received).toEqual([])
    }).pipe(Effect.provide(local))
  )

  it.scopedLive("500, 500, then 200: retry, retry, delivered, with the schedule's first two delays", () =>
    Effect.gen(function* () {
      const r = yield* receiver((_, i) => (i < 2 ? { status: 500 } : { status: 200 }))
      const ctx = contextFor()
      const outcomes: Array<string> = []
      for (let made = 1; made <= 3; made++) {
        const result = yield* attempt(r.url(), ctx)
        outcomes.push(result.outcome)
        if (result.outcome === "retry") outcomes.push(`wait ${Duration.toSeconds(Option.getOrThrow(nextDelay(made)))}s`)
      }
      expect(outcomes).toEqual(["retry", "wait 1s", "retry", "wait 5s", "delivered"])
      // Every attempt of the delivery carries the same request id; the event id is the receiver's dedupe key.
      expect(new Set(r.received.map((x) => x.headers["x-request-id"]))).toEqual(new Set([ctx.requestId]))
    }).pipe(Effect.provide(local))
  )

  it.scopedLive("a receiver that never answers: retry after the timeout", () =>
    Effect.gen(function* () {
      const { result, received } = yield* against(() => "hang")
      expect(received).toHaveLength(1)
      expect(result).toMatchObject({ outcome: "retry", status: null })
      expect(result.error).toMatch(/^no response from http:\/\/127\.0\.0\.1:\d+ within 300 ms$/)
      noLeaks(result)
    }).pipe(Effect.provide(senderWith({ allowPrivate: true, timeoutMs: 300 })))
  )

  it.scopedLive("nothing listening: a network error, retried", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(
        () =>
          new Promise<number>((done) => {
            const probe = createServer().listen(0, "127.0.0.1", () => {
              const address = probe.address()
              probe.close(() => done(typeof address === "object" && address !== null ? address.port : 0))
            })
          })
      )
      const result = yield* attempt(`http://127.0.0.1:${port}/hook/${TOKEN}`)
      expect(result).toMatchObject({
        outcome: "retry",
        status: null,
        // the code only: the address dialled is a resolved address, not for the tenant's eyes
        error: "network error: ECONNREFUSED"
      })
      noLeaks(result)
    }).pipe(Effect.provide(local))
  )

  it.scopedLive("a forbidden destination is final, and nothing is sent", () =>
    Effect.gen(function* () {
      const { result, received } = yield* against(() => ({ status: 200 }))
      expect(result).toMatchObject({
        outcome: "final",
        status: null,
        error: "destination refused"
      })
      expect(received).toEqual([])
      noLeaks(result)
    }).pipe(Effect.provide(senderWith({ allowPrivate: false, timeoutMs: 2_000 })))
  )

  it.scopedLive("a host name resolving to a loopback address: one generic reason, never the address", () =>
    Effect.gen(function* () {
      const result = yield* attempt(`http://localhost:9/hook/${TOKEN}`)
      expect(result).toMatchObject({ outcome: "final", status: null, error: "destination refused" })
      expect(result.error).not.toMatch(/127\.0\.0\.1|::1|loopback|localhost/)
      noLeaks(result)
    }).pipe(Effect.provide(senderWith({ allowPrivate: false, timeoutMs: 2_000 })))
  )
})
