/**
 * A refused webhook URL tells the tenant nothing about the platform's network: every refusal that depends on what a
 * host resolves to, or on its address class, is one message on create and update; the detail goes to the operators'
 * warning line with the request's context. Real application over HTTP, strict outbound guard (no private webhooks).
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { toLine } from "../../src/Logging.js"
import { type Reply, send } from "../Http/support/TestServer.js"
import { appServer } from "../support/AppServer.js"

const lines: Array<Record<string, unknown>> = []
const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make((options) => void lines.push(toLine(options)))
)
const serverLayer = appServer("alerts-url-refusal", { THREADLINE_ALLOW_PRIVATE_WEBHOOKS: "false" }).pipe(
  Layer.provide(capture)
)

const GENERIC = "webhook URL refused: the destination is not allowed or does not resolve"

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  expect(res.status).toBe(status)
  return res.json
}

const unique = () => randomBytes(4).toString("hex")

const owner = Effect.gen(function* () {
  const email = `owner-${unique()}@example.com`
  const password = "correct horse battery"
  ok(yield* send("POST", "/api/v1/auth/register", { body: { email, password, name: "owner" } }), 201)
  const login = ok(yield* send("POST", "/api/v1/auth/login", { body: { email, password } }))
  const token = login.token as string
  const slug = `refusal-${unique()}`
  const org = ok(yield* send("POST", "/api/v1/orgs", { token, body: { slug, name: "Refusal" } }), 201)
  return { token, slug, orgId: org.id as string }
})

const rule = (webhookUrl: string) => ({
  name: "errors burst",
  level: ["error"],
  threshold: 5,
  windowMinutes: 5,
  webhookUrl
})

/** A name, a loopback literal, a private literal, and a name that does not resolve. */
const NETWORK_REFUSED = [
  "http://localhost/hook",
  "http://127.0.0.1:9/hook",
  "http://10.0.0.1/hook",
  "https://nonexistent.invalid/hook"
]

layer(serverLayer, { timeout: 60_000 })("webhook URL refusals", (it) => {
  it.effect("resolution and address-class refusals give one message on create and update; detail logged", () =>
    Effect.gen(function* () {
      const { token, slug, orgId } = yield* owner
      const path = `/api/v1/orgs/${slug}/alert-rules`
      const created = ok(yield* send("POST", path, { token, body: rule("https://93.184.215.14/hook") }), 201)
      const rulePath = `${path}/${created.id as string}`

      const messages = new Set<unknown>()
      for (const url of NETWORK_REFUSED) {
        const create = yield* send("POST", path, { token, body: rule(url) })
        ok(create, 400)
        expect(create.json).toMatchObject({ error: true, code: 400, name: "BadRequest", message: GENERIC })
        messages.add(create.json.message)
        const update = yield* send("PUT", rulePath, { token, body: { webhookUrl: url } })
        ok(update, 400)
        expect(update.json).toMatchObject({ error: true, code: 400, name: "BadRequest", message: GENERIC })
        messages.add(update.json.message)

        // operators see why, with the request's context; the tenant never did
        for (const reply of [create, update]) {
          const requestId = reply.headers.get("x-request-id")
          const logged = lines.filter((l) => l.msg === "webhook URL refused" && l.requestId === requestId)
          expect(logged).toHaveLength(1)
          expect(logged[0]).toMatchObject({ level: 40, organizationId: orgId, host: new URL(url).hostname })
          expect(typeof logged[0]?.reason).toBe("string")
          expect(JSON.stringify(logged[0])).not.toContain("/hook")
        }
      }
      expect([...messages]).toEqual([GENERIC])

      // nothing refused was stored: one rule, its URL unchanged
      const rules = ok(yield* send("GET", path, { token })).rules as ReadonlyArray<Record<string, unknown>>
      expect(rules.map((r) => r.webhookUrl)).toEqual(["https://93.184.215.14/hook"])
    })
  )

  it.effect("a URL refused for its syntax keeps its precise message", () =>
    Effect.gen(function* () {
      const { token, slug } = yield* owner
      const res = yield* send("POST", `/api/v1/orgs/${slug}/alert-rules`, { token, body: rule("ftp://example.com/h") })
      ok(res, 400)
      expect(res.json.message).toBe("webhook URL refused: scheme ftp: not allowed")
    })
  )
})
