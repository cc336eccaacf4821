import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, Option } from "effect"
import { classifyStatus, MAX_ATTEMPTS, nextDelay, parseRetryAfter } from "../../src/Alerts/Backoff.js"
import { fromBody, makeEventId, toBody, type WebhookPayload } from "../../src/Alerts/WebhookPayload.js"
import type { OrganizationId, ProjectId } from "../../src/RequestContext.js"

const seconds = (d: Option.Option<Duration.Duration>) => Option.map(d, Duration.toSeconds)

describe("webhook retry policy", () => {
  it("2xx delivered; 429 and 5xx retried; every other status final (3xx too: redirects are not followed)", () => {
    expect([200, 201, 204, 299].map(classifyStatus)).toEqual(Array(4).fill("delivered"))
    expect([429, 500, 502, 503, 504, 599].map(classifyStatus)).toEqual(Array(6).fill("retry"))
    expect([301, 302, 400, 401, 403, 404, 408, 410, 422].map(classifyStatus)).toEqual(Array(9).fill("final"))
  })

  it("waits 1 s, 5 s, 25 s, 2 min, 10 min; after the sixth attempt the delivery is dead", () => {
    const delays = Array.from({ length: MAX_ATTEMPTS }, (_, i) => seconds(nextDelay(i + 1)))
    expect(delays).toEqual([1, 5, 25, 120, 600].map(Option.some).concat([Option.none()]))
    expect(MAX_ATTEMPTS).toBe(6)
  })

  it("Retry-After lengthens a step up to the longest one, never shortens it", () => {
    expect(seconds(nextDelay(1, Duration.seconds(30)))).toEqual(Option.some(30))
    expect(seconds(nextDelay(3, Duration.seconds(2)))).toEqual(Option.some(25))
    expect(seconds(nextDelay(1, Duration.hours(5)))).toEqual(Option.some(600))
    expect(nextDelay(6, Duration.seconds(1))).toEqual(Option.none())
    const now = Date.parse("2025-01-01T00:00:00Z")
    expect(parseRetryAfter("120", now)).toEqual(Duration.seconds(120))
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:01:00 GMT", now)).toEqual(Duration.millis(60_000))
    expect(parseRetryAfter("soon", now)).toBeUndefined()
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
  })
})

describe("webhook payload", () => {
  const payload: WebhookPayload = {
    id: makeEventId(),
    type: "alert.triggered",
    version: 1,
    occurredAt: new Date("2025-03-01T10:00:00.000Z"),
    organizationId: "org_abc" as OrganizationId,
    projectId: "prj_def" as ProjectId,
    data: {
      ruleId: "rul_1",
      ruleName: "Errors in checkout",
      count: 12,
      threshold: 10,
      windowMinutes: 5,
      from: new Date("2025-03-01T09:55:00.000Z"),
      to: new Date("2025-03-01T10:00:00.000Z")
    }
  }

  it("is the API.md body, with ISO dates, and decodes back to the same value", () => {
    const body = toBody(payload)
    expect(JSON.parse(body)).toEqual({
      id: payload.id,
      type: "alert.triggered",
      version: 1,
      occurredAt: "2025-03-01T10:00:00.000Z",
      organizationId: "org_abc",
      projectId: "prj_def",
      data: {
        ruleId: "rul_1",
        ruleName: "Errors in checkout",
        count: 12,
        threshold: 10,
        windowMinutes: 5,
        from: "2025-03-01T09:55:00.000Z",
        to: "2025-03-01T10:00:00.000Z"
      }
    })
    expect(payload.id).toMatch(/^evt_[0-9a-f]{24}$/)
    expect(fromBody(body)).toEqual(Either.right(payload))
  })

  it("rejects a body of another type or version", () => {
    const json = JSON.parse(toBody(payload)) as Record<string, unknown>
    expect(Either.isLeft(fromBody(JSON.stringify({ ...json, version: 2 })))).toBe(true)
    expect(Either.isLeft(fromBody(JSON.stringify({ ...json, type: "alert.resolved" })))).toBe(true)
    expect(Either.isLeft(fromBody(JSON.stringify({ ...json, id: "nope" })))).toBe(true)
  })
})
