/**
 * Every error answer has the contract's body `{ error: true, code, name, message, reqId, details? }` and nothing
 * else: validation (400 with the failing paths), authentication (401), permission (403), unknown routes and
 * resources (404), conflicts (409), limits (413 by length and while streaming, 415), rate limits (429 with
 * Retry-After), dependencies down (503) and defects (500, no internals).
 */
import { Readable } from "node:stream"
import { expect, layer } from "@effect/vitest"
import { Cause, Effect, Schema } from "effect"
import { classify } from "../../src/Http/ErrorPipeline.js"
import { ErrorBody } from "../../src/Http/Errors.js"
import { finalized } from "./support/ProbeApi.js"
import { seed } from "./support/TestCredentials.js"
import { baseUrl, call, type Reply, testServer } from "./support/TestServer.js"

const server = testServer({ label: "errors", config: { THREADLINE_MAX_BODY_BYTES: "4096" } })
const decode = Schema.decodeUnknownSync(ErrorBody, { onExcessProperty: "error" })

const expectError = (res: Reply, code: number, name: string) => {
  expect(res.status).toBe(code)
  expect(res.headers.get("content-type")).toContain("application/json")
  const body = decode(res.json)
  expect(body).toMatchObject({ error: true, code, name })
  expect(body.reqId).toBe(res.headers.get("x-request-id"))
  expect(body.message.length).toBeGreaterThan(0)
  return body
}

layer(server.layer, { timeout: 60_000 })("error bodies", (it) => {
  it.effect("400 lists the failing paths", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const res = yield* call(`${base}/probe/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "", count: 1.5 })
      })
      const body = expectError(res, 400, "HttpApiDecodeError")
      const paths = (body.details as ReadonlyArray<{ path: string }>).map((d) => d.path).sort()
      expect(paths).toEqual(["count", "name"])
      const notJson = yield* call(`${base}/probe/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{not json"
      })
      expectError(notJson, 400, "BadRequest")
      const badPath = yield* call(`${base}/probe/fail/unknown-kind`)
      expect((expectError(badPath, 400, "HttpApiDecodeError").details ?? []).length).toBeGreaterThan(0)
    })
  )

  it.effect("401, 403, 404 (route and resource), 409", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const fx = yield* seed
      expectError(yield* call(`${base}/probe/any`), 401, "Unauthorized")
      expectError(yield* call(`${base}/probe/fail/unauthorized`), 401, "Unauthorized")
      expectError(yield* call(`${base}/probe/fail/forbidden`), 403, "Forbidden")
      const notMember = yield* call(`${base}/probe/orgs/${fx.orgB.slug}`, {
        headers: { authorization: `Bearer ${fx.sessions.owner}` }
      })
      expectError(notMember, 404, "NotFound")
      expectError(yield* call(`${base}/no/such/route`), 404, "NotFound")
      expectError(yield* call(`${base}/probe/fail/notfound`), 404, "NotFound")
      expect(expectError(yield* call(`${base}/probe/fail/conflict`), 409, "Conflict").message).toBe(
        "slug already taken"
      )
    })
  )

  it.effect("413 by Content-Length and while reading a chunked body; 415", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const big = "x".repeat(5000)
      const declared = yield* call(`${base}/probe/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: big
      })
      expectError(declared, 413, "PayloadTooLarge")
      const chunked = yield* call(`${base}/probe/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: Readable.toWeb(Readable.from([Buffer.from(big.slice(0, 3000)), Buffer.from(big.slice(3000))])) as never,
        duplex: "half"
      })
      expectError(chunked, 413, "PayloadTooLarge")
      const small = yield* call(`${base}/probe/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: Readable.toWeb(Readable.from([Buffer.from("{}")])) as never,
        duplex: "half"
      })
      expect(small.json).toEqual({ bytes: 2 })
      expectError(
        yield* call(`${base}/probe/echo`, { method: "POST", headers: { "content-type": "text/plain" }, body: "hi" }),
        415,
        "UnsupportedMediaType"
      )
    })
  )

  it.effect("429 carries Retry-After (rounded up)", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const res = yield* call(`${base}/probe/fail/quota`)
      expectError(res, 429, "TooManyRequests")
      expect(res.headers.get("retry-after")).toBe("7")
    })
  )

  it.effect("500 has no internals; Postgres or Redis down is 503", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const boom = yield* call(`${base}/probe/fail/boom`)
      const body = expectError(boom, 500, "InternalServerError")
      expect(body.message).toBe("Internal Server Error")
      expect(body.details).toBeUndefined()
      expect(boom.text).not.toContain("hunter2")
      expect(boom.text).not.toContain("at ")
      expectError(yield* call(`${base}/probe/fail/sql`), 503, "ServiceUnavailable")
      expectError(yield* call(`${base}/probe/fail/redis`), 503, "ServiceUnavailable")
    })
  )

  it.effect("a handler's request Scope is made on use and closed after the request", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const res = yield* call(`${base}/probe/scoped`)
      expect(res.status).toBe(200)
      const id = String(res.json.requestId)
      expect(id).toBe(res.headers.get("x-request-id"))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      expect(finalized.filter((x) => x === id)).toHaveLength(1)
    })
  )

  it.effect("the pretty cause is exposed only when configured for development", () =>
    Effect.sync(() => {
      const cause = Cause.die(new Error("kaboom in dev"))
      expect(classify(cause, false).details).toBeUndefined()
      expect(JSON.stringify(classify(cause, true).details)).toContain("kaboom in dev")
    })
  )
})
