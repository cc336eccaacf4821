/**
 * API.md on search paging and ingest refusals, against the application's own server (real Postgres, Redis, keys
 * made through the API): `cursor` and `offset` work on their own (a client follows `nextCursor` without repeating
 * `limit`), a cursor the API did not return is a 400, a refused single entry is a 400 with the failing path, and a
 * validation error lists each failing path once, with its reason.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { logsApp, post, search, Tenants } from "./AppServer.js"

const SERVICE = "paging-svc"
const COUNT = 105

layer(logsApp("logs-paging"), { timeout: 120_000 })("search paging and refusals", (it) => {
  it.effect("nextCursor followed without limit reaches every entry once; offset alone skips", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const base = Date.now() - 60_000
      const logs = Array.from({ length: COUNT }, (_, i) => ({
        service: SERVICE,
        level: "info",
        message: `entry ${i}`,
        time: new Date(base + i).toISOString()
      }))
      const res = yield* post("/api/v1/ingest", a.writeKey, JSON.stringify({ logs }))
      expect(res.json).toMatchObject({ received: COUNT })

      const first = yield* search("/api/v1/logs", `service=${SERVICE}`, { key: a.fullKey })
      expect(first.body.logs).toHaveLength(100)
      expect(first.body.hasMore).toBe(true)
      // the cursor alone: the default limit again, and the next page, not the first one again
      const second = yield* search(
        "/api/v1/logs",
        `service=${SERVICE}&cursor=${encodeURIComponent(first.body.nextCursor as string)}`,
        { key: a.fullKey }
      )
      expect(second.status).toBe(200)
      expect(second.body.logs).toHaveLength(COUNT - 100)
      expect(second.body.nextCursor).toBeNull()
      const messages = [...first.body.logs, ...second.body.logs].map((l) => l.message)
      expect(new Set(messages).size).toBe(COUNT)
      // API.md: ids are opaque strings with a type prefix
      expect([...first.body.logs, ...second.body.logs].every((l) => /^log_[A-Za-z0-9_-]{22}$/.test(l.id))).toBe(true)
      expect(messages[0]).toBe(`entry ${COUNT - 1}`)
      expect(messages[COUNT - 1]).toBe("entry 0")

      // offset alone (LogTide SDKs): skips, and the reply carries offset and total
      const skipped = yield* search("/api/v1/logs", `service=${SERVICE}&offset=100`, { key: a.fullKey })
      expect(skipped.status).toBe(200)
      expect(skipped.json).toMatchObject({ offset: 100, limit: 100 })
      expect(skipped.body.logs.map((l) => l.message)).toEqual(second.body.logs.map((l) => l.message))
      expect(typeof skipped.json.total).toBe("number")
    })
  )

  it.effect("a cursor the API did not return is 400, not the first page", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      // not base64url JSON; base64url JSON of the wrong shape
      for (const cursor of ["garbage", "eyJ0IjoieCJ9"]) {
        const res = yield* search("/api/v1/logs", `cursor=${cursor}`, { key: a.fullKey })
        expect(res.status).toBe(400)
        expect(res.json).toMatchObject({ error: true, code: 400 })
      }
    })
  )

  it.effect("a search date beyond what Postgres holds is 400 naming the parameter (was 503: verify F4)", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      for (const query of ["to=-172499-03-27T13:11:24.712Z", "from=%2B275760-09-13T00:00:00.000Z", "from=0000-01-01"]) {
        const res = yield* search("/api/v1/logs", query, { key: a.fullKey })
        expect(res.status).toBe(400)
        expect(res.json).toMatchObject({ error: true, code: 400 })
        expect(JSON.stringify(res.json.details)).toMatch(/from|to/)
      }
      expect(
        (yield* search("/api/v1/logs", "from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z", { key: a.fullKey })).status
      ).toBe(200)
    })
  )

  it.effect("a refused single entry is 400 with its failing path; a valid one is 200", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const bad = yield* post(
        "/api/v1/ingest/single",
        a.writeKey,
        JSON.stringify({ service: SERVICE, level: "loud", message: "x" })
      )
      expect(bad.status).toBe(400)
      expect(bad.json).toMatchObject({ error: true, code: 400, details: [{ path: "level" }] })
      const good = yield* post(
        "/api/v1/ingest/single",
        a.writeKey,
        JSON.stringify({ service: SERVICE, level: "warn", message: "single ok" })
      )
      expect(good.status).toBe(200)
      expect(good.json).toMatchObject({ received: 1 })
      expect(good.json).not.toHaveProperty("rejected")
      // a batch keeps partial acceptance: 200 with the rejected entries listed
      const batch = yield* post("/api/v1/ingest", a.writeKey, JSON.stringify([{ service: SERVICE, level: "loud" }]))
      expect(batch.status).toBe(200)
      expect(batch.json).toMatchObject({ received: 0, rejected: [{ index: 0 }] })
    })
  )

  it.effect("validation details name each failing parameter once, with the reason", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const res = yield* search("/api/v1/logs", "limit=0&from=yesterday", { key: a.fullKey })
      expect(res.status).toBe(400)
      const details = res.json.details as ReadonlyArray<{ path: string; message: string }>
      expect(details.map((d) => d.path).sort()).toEqual(["from", "limit"])
      expect(details.some((d) => d.message.startsWith("Expected undefined"))).toBe(false)
    })
  )
})
