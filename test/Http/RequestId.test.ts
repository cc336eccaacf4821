/**
 * X-Request-Id over real HTTP: a valid id is kept; anything else (129 characters, CR/LF, non-ASCII, empty) is
 * replaced by a minted `API-…` id that appears instead, never the raw value; the header is on every kind of
 * response, and the access log line of the request carries the same id.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { HttpServer } from "@effect/platform"
import { seed } from "./support/TestCredentials.js"
import { parseRaw, rawRequest } from "./support/Raw.js"
import { baseUrl, call, testServer } from "./support/TestServer.js"

const server = testServer({ label: "reqid", config: { THREADLINE_MAX_BODY_BYTES: "1024" } })
const MINTED = /^API-\d{13}-[0-9a-f]{24}$/

const port = Effect.map(HttpServer.HttpServer, (s) => (s.address._tag === "TcpAddress" ? s.address.port : 0))

layer(server.layer, { timeout: 60_000 })("X-Request-Id", (it) => {
  it.effect("a valid id is kept, in the header, the context and the access log", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const fx = yield* seed
      const id = "client-req.42:abc_DEF"
      const res = yield* call(`${base}/probe/any`, { headers: { "x-request-id": id, "x-api-key": fx.keys.full } })
      expect(res.status).toBe(200)
      expect(res.headers.get("x-request-id")).toBe(id)
      expect(res.json.requestId).toBe(id)
      const line = server.accessLog.lines.find((l) => l.requestId === id)
      expect(line).toMatchObject({
        method: "GET",
        route: "/probe/any",
        status: 200,
        organizationId: fx.orgA.id,
        projectId: fx.projectA,
        actor: `apiKey:${fx.keyIds.full}`
      })
      expect(typeof line?.durationMs).toBe("number")
    })
  )

  it.effect("128 characters are kept, 129 are replaced", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const ok = "a".repeat(128)
      expect((yield* call(`${base}/health`, { headers: { "x-request-id": ok } })).headers.get("x-request-id")).toBe(ok)
      const long = "b".repeat(129)
      const res = yield* call(`${base}/health`, { headers: { "x-request-id": long } })
      expect(res.headers.get("x-request-id")).toMatch(MINTED)
      expect(JSON.stringify(server.accessLog.lines)).not.toContain(long)
    })
  )

  it.effect("empty, non-ASCII and comma-joined duplicates are replaced", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      for (const value of ["", "caf\u00e9", "r\u00e9q-1"]) {
        const res = yield* call(`${base}/health`, { headers: { "x-request-id": value } })
        expect(res.status).toBe(200)
        expect(res.headers.get("x-request-id")).toMatch(MINTED)
      }
      const p = yield* port
      const raw = parseRaw(
        yield* Effect.promise(() =>
          rawRequest(
            p,
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\nX-Request-Id: two\r\nConnection: close\r\n\r\n"
          )
        )
      )
      expect(raw.headers["x-request-id"]).toMatch(MINTED)
      const utf8 = parseRaw(
        yield* Effect.promise(() =>
          rawRequest(
            p,
            Buffer.concat([
              Buffer.from("GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: id-"),
              Buffer.from("\u00fc\u2603", "utf8"),
              Buffer.from("\r\nConnection: close\r\n\r\n")
            ])
          )
        )
      )
      expect(utf8.status).toBe(200)
      expect(utf8.headers["x-request-id"]).toMatch(MINTED)
    })
  )

  it.effect("CR/LF: a bare CR is refused by the parser, still with a minted id and the JSON body", () =>
    Effect.gen(function* () {
      const p = yield* port
      const raw = parseRaw(
        yield* Effect.promise(() =>
          rawRequest(p, "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\rInjected: 1\r\n\r\n")
        )
      )
      expect(raw.status).toBe(400)
      expect(raw.headers["x-request-id"]).toMatch(MINTED)
      expect(raw.headers["x-request-id"]).not.toContain("abc")
      expect(JSON.parse(raw.body)).toMatchObject({ error: true, code: 400, reqId: raw.headers["x-request-id"] })
      // A CRLF ends the header: the server sees "abc" (valid) and a separate header, never a split response.
      const split = parseRaw(
        yield* Effect.promise(() =>
          rawRequest(
            p,
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\nSet-Cookie: evil=1\r\nConnection: close\r\n\r\n"
          )
        )
      )
      expect(split.status).toBe(200)
      expect(split.headers["set-cookie"]).toBeUndefined()
    })
  )

  it.effect("present on 4xx before and after authentication, 404, 413, 415 and 500, equal to body and log", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const fx = yield* seed
      const cases: ReadonlyArray<[string, RequestInit, number]> = [
        ["/probe/any", {}, 401],
        ["/probe/read", { headers: { "x-api-key": fx.keys.write } }, 403],
        ["/nope/not-a-route", {}, 404],
        [
          "/probe/upload",
          { method: "POST", body: "x".repeat(2048), headers: { "content-type": "application/json" } },
          413
        ],
        ["/probe/upload", { method: "POST", body: "x", headers: { "content-type": "text/csv" } }, 415],
        ["/probe/fail/boom", {}, 500],
        ["/health", {}, 200]
      ]
      for (const [path, init, status] of cases) {
        for (const sent of ["good-id-" + status, "bad id with spaces"]) {
          const res = yield* call(`${base}${path}`, { ...init, headers: { ...init.headers, "x-request-id": sent } })
          expect(res.status).toBe(status)
          const id = res.headers.get("x-request-id")
          if (sent.startsWith("good")) expect(id).toBe(sent)
          else expect(id).toMatch(MINTED)
          if (status >= 400) expect(res.json.reqId).toBe(id)
          const line = server.accessLog.lines.find((l) => l.requestId === id)
          expect(line?.status).toBe(status)
        }
      }
      expect(JSON.stringify(server.accessLog.lines)).not.toContain("bad id with spaces")
    })
  )
})
