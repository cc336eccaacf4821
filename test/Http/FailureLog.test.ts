/**
 * The error-level line of a request that ends in a 500 carries the request's id and tenant like every other line
 * inside the request: the error pipeline runs after the handler, where authentication's RequestContext is gone.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { toLine } from "../../src/Logging.js"
import { seed } from "./support/TestCredentials.js"
import { baseUrl, call, testServer } from "./support/TestServer.js"

const lines: Array<Record<string, unknown>> = []
const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make((options) => void lines.push(toLine(options)))
)
const server = testServer({ label: "failure_log", logger: capture })

const failedLines = (requestId: string | null) =>
  lines.filter((l) => l.msg === "request failed" && l.requestId === requestId)

layer(server.layer, { timeout: 60_000 })("the log line of a failed request", (it) => {
  it.effect("an authenticated 500: request id, organization, project and API key", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const fx = yield* seed
      const res = yield* call(`${base}/probe/any/boom`, { headers: { "x-api-key": fx.keys.full } })
      expect(res.status).toBe(500)
      const requestId = res.headers.get("x-request-id")
      const found = failedLines(requestId)
      expect(found).toHaveLength(1)
      expect(found[0]).toMatchObject({
        level: 50,
        requestId,
        organizationId: fx.orgA.id,
        projectId: fx.projectA,
        apiKeyId: fx.keyIds.full,
        status: 500
      })
    })
  )

  it.effect("a 500 before any authentication: the request id", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const res = yield* call(`${base}/probe/fail/boom`, { headers: { "x-request-id": "boom-before-auth" } })
      expect(res.status).toBe(500)
      expect(failedLines("boom-before-auth")).toHaveLength(1)
    })
  )
})
