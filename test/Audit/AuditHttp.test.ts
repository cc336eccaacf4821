/**
 * Bad audit-log queries are the client's error, never a 503: a cursor past the bigint range is refused by name
 * before the database sees it, and any value the database itself refuses (a Postgres data exception, SQLSTATE
 * class 22, here a date before the oldest timestamp it holds) is a 400 in the error shape without any SQL in it.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { AuditCursor } from "../../src/Audit/AuditCursor.js"
import { ErrorBody } from "../../src/Http/Errors.js"
import { send } from "../Http/support/TestServer.js"
import { appServer } from "../support/AppServer.js"
import { ok, orgWithMember } from "../support/Tenants.js"

const decode = Schema.decodeUnknownSync(ErrorBody, { onExcessProperty: "error" })
const cursorOf = (id: string) => Buffer.from(`a:${id}`).toString("base64url")

layer(appServer("audit_http"), { timeout: 60_000 })("audit-log query values", (it) => {
  it.effect("a cursor past the bigint range is 400 naming cursor; the largest bigint is a valid cursor", () =>
    Effect.gen(function* () {
      const { owner, slug } = yield* orgWithMember("audit")
      const path = `/api/v1/orgs/${slug}/audit-log`
      for (const id of ["9223372036854775808", "9999999999999999999"]) {
        const res = yield* send("GET", `${path}?cursor=${cursorOf(id)}`, { token: owner.token })
        expect({ status: res.status, body: res.json }).toMatchObject({ status: 400 })
        const body = decode(res.json)
        expect(body).toMatchObject({ code: 400, name: "BadRequest" })
        expect(body.message).toContain("cursor")
      }
      const max = ok(yield* send("GET", `${path}?cursor=${cursorOf("9223372036854775807")}`, { token: owner.token }))
      // every entry is older than the largest id
      expect((max.entries as ReadonlyArray<unknown>).length).toBeGreaterThan(0)
      expect(AuditCursor.encode("1")).toBe(cursorOf("1"))
    })
  )

  it.effect("a value Postgres refuses (class 22) is 400 ValidationError, not 503, and shows no SQL", () =>
    Effect.gen(function* () {
      const { owner, slug } = yield* orgWithMember("audit22")
      // a valid JavaScript date Postgres cannot hold (before 4713 BC): 22008 datetime_field_overflow
      const res = yield* send("GET", `/api/v1/orgs/${slug}/audit-log?from=-010000-01-01T00:00:00.000Z`, {
        token: owner.token
      })
      expect({ status: res.status, body: res.json }).toMatchObject({ status: 400 })
      expect(decode(res.json)).toMatchObject({ code: 400, name: "ValidationError", message: "invalid parameter value" })
      expect(res.text).not.toMatch(/select|audit_log|timestamp|sql/i)
    })
  )
})
