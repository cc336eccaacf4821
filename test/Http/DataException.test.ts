/**
 * A value the database refuses (SQLSTATE class 22) is the client's 400, but operators still see it: a warning line
 * with the SQLSTATE, the routine or constraint, and the request's context, never the SQL or the values. The real
 * application over HTTP; the refused value is a NUL character in a text column (22021), which only Postgres rejects.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { toLine } from "../../src/Logging.js"
import { appServer } from "../support/AppServer.js"
import { type Reply, send } from "./support/TestServer.js"

const lines: Array<Record<string, unknown>> = []
const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make((options) => void lines.push(toLine(options)))
)
const serverLayer = appServer("data-exception").pipe(Layer.provide(capture))

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  expect(res.status).toBe(status)
  return res.json
}

const unique = () => randomBytes(4).toString("hex")

layer(serverLayer, { timeout: 60_000 })("a Postgres data exception", (it) => {
  it.effect("is a 400 for the client and a warning line with SQLSTATE, routine and request context", () =>
    Effect.gen(function* () {
      const email = `owner-${unique()}@example.com`
      const password = "correct horse battery"
      ok(yield* send("POST", "/api/v1/auth/register", { body: { email, password, name: "owner" } }), 201)
      const token = ok(yield* send("POST", "/api/v1/auth/login", { body: { email, password } })).token as string
      const slug = `dataexc-${unique()}`
      const org = ok(yield* send("POST", "/api/v1/orgs", { token, body: { slug, name: "Data" } }), 201)

      const secretValue = `nul\u0000value-${unique()}`
      const res = yield* send("POST", `/api/v1/orgs/${slug}/alert-rules`, {
        token,
        body: {
          name: secretValue,
          level: ["error"],
          threshold: 5,
          windowMinutes: 5,
          webhookUrl: "https://93.184.215.14/hook"
        }
      })
      ok(res, 400)
      expect(res.json).toMatchObject({ error: true, code: 400, name: "ValidationError" })
      expect(res.json.message).toBe("invalid parameter value")

      const requestId = res.headers.get("x-request-id")
      const logged = lines.filter((l) => l.msg === "request refused by the database" && l.requestId === requestId)
      expect(logged).toHaveLength(1)
      const line = logged[0] ?? {}
      expect(line).toMatchObject({ level: 40, status: 400, sqlstate: "22021", organizationId: org.id })
      expect(typeof line.routine).toBe("string")
      // neither the value nor the statement nor the database's message (which quotes values)
      const text = JSON.stringify(line)
      expect(text).not.toContain("value-")
      expect(text).not.toMatch(/INSERT|alert_rules \(|invalid byte sequence/i)
      expect(line).not.toHaveProperty("err")
    })
  )
})
