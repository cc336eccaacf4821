/**
 * What one search may cost, against the application's own server on real Postgres and Redis (small limits set
 * for the test): pages bounded in bytes as well as rows, a bounded exact `total`, a statement timeout answered
 * 503 QueryTimeout, a per-organization cap answered 429 with Retry-After, and opaque log ids.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Option, Redacted } from "effect"
import pg from "pg"
import { logIdKey, makeLogIds } from "../../src/Logs/LogId.js"
import type { SearchReply } from "../../src/Logs/QueryTypes.js"
import { TestDatabaseInfo } from "../support/Database.js"
import { baseUrl, call, logsApp, post, search, Tenants } from "./AppServer.js"

const PAGE_BYTES = 20_000
const COUNT_LIMIT = 50
const TIMEOUT_MS = 3000

type Entry = SearchReply["logs"][number]

const ingest = (key: string, service: string, count: number, messageBytes: number, extra: object = {}) =>
  Effect.gen(function* () {
    const base = Date.now() - 60_000 + ("base" in extra ? Number(extra.base) : 0)
    const logs = Array.from({ length: count }, (_, i) => ({
      service,
      level: "info",
      message: `${i} `.padEnd(messageBytes, "x"),
      time: new Date(base + i).toISOString(),
      ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "base"))
    }))
    const res = yield* post("/api/v1/ingest", key, JSON.stringify({ logs }))
    expect(res.json).toMatchObject({ received: count })
  })

/** Every page of `path?query`, following nextCursor; the pages as returned. */
const pages = (path: string, query: string, key: string) =>
  Effect.gen(function* () {
    const out: Array<SearchReply> = []
    let cursor: string | null = null
    do {
      const res: { status: number; body: SearchReply } = yield* search(
        path,
        `${query}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
        { key }
      )
      expect(res.status).toBe(200)
      out.push(res.body)
      cursor = res.body.nextCursor
      expect(out.length).toBeLessThan(100)
    } while (cursor !== null)
    return out
  })

/** A third organization with a project and a full key, made through the API as users make them. */
const thirdTenant = Effect.gen(function* () {
  const base = yield* baseUrl
  const send = (path: string, body: unknown, token?: string) =>
    Effect.map(
      call(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body)
      }),
      (r) => r.json
    )
  const email = `c-${Date.now()}@example.com`
  yield* send("/api/v1/auth/register", { email, password: "correct horse battery", name: "c" })
  const token = (yield* send("/api/v1/auth/login", { email, password: "correct horse battery" })).token as string
  const org = (yield* send("/api/v1/orgs", { slug: `c-${Date.now()}`, name: "c" }, token)).id as string
  const project = (yield* send(`/api/v1/orgs/${org}/projects`, { name: "c web" }, token)).id as string
  const key = yield* send(`/api/v1/orgs/${org}/projects/${project}/api-keys`, { name: "full", type: "full" }, token)
  return key.secret as string
})

/** An owner connection holding ACCESS EXCLUSIVE on `logs`: every search statement waits on it. */
const lockLogs = Effect.acquireRelease(
  Effect.gen(function* () {
    const { ownerUrl } = yield* TestDatabaseInfo
    return yield* Effect.promise(async () => {
      const c = new pg.Client({ connectionString: ownerUrl })
      await c.connect()
      await c.query("BEGIN")
      await c.query("LOCK TABLE logs IN ACCESS EXCLUSIVE MODE")
      return c
    })
  }),
  (c) => Effect.promise(() => c.query("ROLLBACK").then(() => c.end()))
)

/** Waits until `n` statements of this database wait on a lock (the holder's transaction: fresh statistics). */
const waiting = (c: pg.Client, n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200; i++) {
      const r = yield* Effect.promise(() =>
        c.query("SELECT pg_stat_clear_snapshot()").then(() =>
          c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`)
        )
      )
      if ((r.rows[0]?.n ?? 0) >= n) return
      yield* Effect.sleep("20 millis")
    }
    expect.fail(`fewer than ${n} statements waiting on the lock`)
  })

layer(
  logsApp("logs-bounds", {
    THREADLINE_QUERY_MAX_PAGE_BYTES: String(PAGE_BYTES),
    THREADLINE_QUERY_COUNT_LIMIT: String(COUNT_LIMIT),
    THREADLINE_QUERY_TIMEOUT_MS: String(TIMEOUT_MS),
    THREADLINE_QUERY_QUEUE_WAIT_MS: "300"
  }),
  // the real clock: the server's queue wait and the test's polling must see time pass
  { timeout: 120_000, excludeTestServices: true }
)("search bounds", (it) => {
  it.effect("a page ends at the byte limit with hasMore; the cursor continues exactly there, each entry once", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      // 40 entries of ~3 KB (~120 KB in all, six times the page's bytes), and one larger than a whole page
      yield* ingest(a.writeKey, "bytes-svc", 40, 3000)
      yield* ingest(a.writeKey, "bytes-svc", 1, PAGE_BYTES + 5000, { level: "error", base: 10_000 })
      const all = yield* pages("/api/v1/logs", "service=bytes-svc&limit=1000", a.fullKey)
      // the newest entry is the huge one: a page of its own (a page always holds one entry), then more pages
      expect(all[0]?.logs).toHaveLength(1)
      expect(all[0]?.hasMore).toBe(true)
      expect(all[0]?.logs[0]?.level).toBe("error")
      for (const page of all.slice(1)) {
        expect(page.logs.length).toBeGreaterThan(0)
        expect(Buffer.byteLength(JSON.stringify(page.logs))).toBeLessThanOrEqual(PAGE_BYTES)
      }
      expect(all.length).toBeGreaterThan(6)
      for (const page of all.slice(0, -1)) expect(page.hasMore).toBe(true)
      expect(all[all.length - 1]?.hasMore).toBe(false)
      const entries = all.flatMap((p) => p.logs)
      expect(entries).toHaveLength(41)
      expect(new Set(entries.map((e) => e.id)).size).toBe(41)
      // newest first, without a gap: messages 39 … 0 after the huge one
      expect(entries.slice(1).map((e) => Number(e.message.split(" ")[0]))).toEqual(
        Array.from({ length: 40 }, (_, i) => 39 - i)
      )
    })
  )

  it.effect("the trace route is bounded the same way, in rows and bytes", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      yield* ingest(a.writeKey, "trace-svc", 30, 3000, { trace_id: traceId })
      const all = yield* pages(`/api/v1/logs/trace/${traceId}`, "", a.fullKey)
      expect(all.length).toBeGreaterThan(4)
      for (const page of all) expect(Buffer.byteLength(JSON.stringify(page.logs))).toBeLessThanOrEqual(PAGE_BYTES)
      const entries: Array<Entry> = all.flatMap((p) => p.logs)
      expect(new Set(entries.map((e) => e.id)).size).toBe(30)
      expect(entries.every((e) => e.trace_id === traceId)).toBe(true)
    })
  )

  it.effect("offset mode: total is an exact count under the bound, a flagged lower bound over it", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      yield* ingest(a.writeKey, "count-few", 30, 10)
      yield* ingest(a.writeKey, "count-many", COUNT_LIMIT + 25, 10)
      const few = yield* search("/api/v1/logs", "service=count-few&offset=5&limit=10", { key: a.fullKey })
      expect(few.status).toBe(200)
      expect(few.json).toMatchObject({ offset: 5, limit: 10, total: 30, totalIsLowerBound: false, hasMore: true })
      expect(few.body.logs).toHaveLength(10)
      const many = yield* search("/api/v1/logs", "service=count-many&offset=0&limit=10", { key: a.fullKey })
      expect(many.json).toMatchObject({ total: COUNT_LIMIT, totalIsLowerBound: true })
      expect(many.body.logs).toHaveLength(10)
      // past the bound, total still covers what the page shows
      const deep = yield* search("/api/v1/logs", "service=count-many&offset=60&limit=5", { key: a.fullKey })
      expect(deep.json).toMatchObject({ total: 66, totalIsLowerBound: true, hasMore: true })
      // cursor mode carries neither
      const keyset = yield* search("/api/v1/logs", "service=count-few&limit=10", { key: a.fullKey })
      expect(keyset.json).not.toHaveProperty("total")
      expect(keyset.json).not.toHaveProperty("totalIsLowerBound")
    })
  )

  it.scoped("a search past its statement timeout is 503 QueryTimeout with a hint; stats too", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      yield* lockLogs
      const started = Date.now()
      const [res, stats] = yield* Effect.all(
        [
          search("/api/v1/logs", "service=bytes-svc", { key: a.fullKey }),
          search("/api/v1/logs/stats", "service=bytes-svc", { key: a.fullKey })
        ],
        { concurrency: 2 }
      )
      for (const r of [res, stats]) {
        expect(r.status).toBe(503)
        expect(r.json).toMatchObject({ error: true, code: 503, name: "QueryTimeout" })
        expect(String(r.json.message)).toMatch(/narrow the time range/)
      }
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 100)
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 5000)
    })
  )

  it.effect("a page of control characters stays within the byte bound as sent (JSON escapes counted)", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      // stored: ~2.5 KB each, eight of them per page by stored bytes; sent: \u0001 is six bytes, ~15 KB each
      const logs = Array.from({ length: 24 }, (_, i) => ({
        service: "ctl-svc",
        level: "info",
        message: `${i} ${(i % 3 === 0 ? '"\\' : "\u0001").repeat(i % 3 === 0 ? 1250 : 2500)}`,
        time: new Date(Date.now() - 50_000 + i).toISOString()
      }))
      const res = yield* post("/api/v1/ingest", a.writeKey, JSON.stringify({ logs }))
      expect(res.json).toMatchObject({ received: 24 })
      const all = yield* pages("/api/v1/logs", "service=ctl-svc&limit=1000", a.fullKey)
      for (const page of all) {
        // one entry larger than the bound is a page of its own; never more than the bound otherwise
        if (page.logs.length > 1) expect(Buffer.byteLength(JSON.stringify(page.logs))).toBeLessThanOrEqual(PAGE_BYTES)
      }
      expect(Math.max(...all.map((p) => Buffer.byteLength(JSON.stringify(p.logs))))).toBeLessThanOrEqual(PAGE_BYTES)
      const entries = all.flatMap((p) => p.logs)
      expect(new Set(entries.map((e) => e.id)).size).toBe(24)
      expect(entries.map((e) => Number(e.message.split(" ")[0]))).toEqual(Array.from({ length: 24 }, (_, i) => 23 - i))
    })
  )

  it.effect("the 3rd concurrent search of one organization (half of the process's 4) waits briefly, then 429", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b } = yield* Tenants
        const lock = yield* lockLogs
        // the read pool is 5 connections: 4 searches per process, 2 per organization; A's two hold its slots
        const held = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 2 }, () => search("/api/v1/logs", "service=bytes-svc&limit=5", { key: a.fullKey })),
            { concurrency: "unbounded" }
          )
        )
        yield* waiting(lock, 2)
        const third = yield* search("/api/v1/logs", "service=bytes-svc&limit=5", { key: a.fullKey })
        expect(third.status).toBe(429)
        expect(third.json).toMatchObject({ error: true, code: 429, name: "TooManySearches" })
        expect(String(third.json.message)).toMatch(/of this organization at once \(at most 2\)/)
        expect(Number(third.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
        const stats = yield* search("/api/v1/logs/stats", "service=bytes-svc", { key: a.fullKey })
        expect(stats.status).toBe(429)
        // another organization is not refused: its search runs (and waits on the same lock)
        const other = yield* Effect.fork(search("/api/v1/logs", "limit=5", { key: b.fullKey }))
        yield* waiting(lock, 3)
        yield* Effect.promise(() => lock.query("ROLLBACK"))
        expect((yield* Fiber.join(other)).status).toBe(200)
        for (const r of yield* Fiber.join(held)) expect(r.status).toBe(200)
        // the slots are free again
        expect((yield* search("/api/v1/logs", "service=bytes-svc&limit=5", { key: a.fullKey })).status).toBe(200)
      })
    )
  )

  it.effect("two organizations holding slow searches never make a third wait for the pool: a prompt 429", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b } = yield* Tenants
        const c = yield* thirdTenant
        const lock = yield* lockLogs
        const four = (key: string) =>
          Effect.fork(
            Effect.all(
              Array.from({ length: 4 }, () => search("/api/v1/logs", "service=bytes-svc&limit=5", { key })),
              { concurrency: "unbounded" }
            )
          )
        const [ofA, ofB] = [yield* four(a.fullKey), yield* four(b.fullKey)]
        // two of each run (and wait on the lock): the process's 4 searches, one connection of 5 left
        yield* waiting(lock, 4)
        const started = Date.now()
        const res = yield* search("/api/v1/logs", "limit=5", { key: c })
        const elapsed = Date.now() - started
        expect(res.status).toBe(429)
        expect(res.json).toMatchObject({ error: true, code: 429, name: "TooManySearches" })
        expect(String(res.json.message)).toMatch(/on this server at once \(at most 4\)/)
        // the queue wait (300 ms) and no more: before, it waited in the pool's queue past the statement timeout
        expect(elapsed).toBeLessThan(1500)
        yield* Effect.promise(() => lock.query("ROLLBACK"))
        for (const replies of [yield* Fiber.join(ofA), yield* Fiber.join(ofB)]) {
          expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 429, 429])
        }
        expect((yield* search("/api/v1/logs", "limit=5", { key: c })).status).toBe(200)
      })
    )
  )

  it.effect("log ids are opaque: not sequential, not small, not comparable across tenants; keyed", () =>
    Effect.gen(function* () {
      const { a, b } = yield* Tenants
      yield* ingest(a.writeKey, "ids-svc", 3, 10)
      yield* ingest(b.writeKey, "ids-svc", 3, 10)
      const ofA = (yield* search("/api/v1/logs", "service=ids-svc", { key: a.fullKey })).body.logs
      const ofB = (yield* search("/api/v1/logs", "service=ids-svc", { key: b.fullKey })).body.logs
      const ids = [...ofA, ...ofB].map((e) => e.id)
      for (const id of ids) {
        expect(id).toMatch(/^log_[A-Za-z0-9_-]{22}$/)
        // 16 bytes of cipher output: never a small number in disguise
        const block = Buffer.from(id.slice(4), "base64url")
        expect(block.readBigUInt64BE(0)).toBeGreaterThan(1n << 32n)
      }
      expect(new Set(ids).size).toBe(6)
      // entries ingested one after the other do not get ids that sort (or differ) like a counter
      const numeric = ids.map((id) => Buffer.from(id.slice(4), "base64url").readBigUInt64BE(8))
      const diffs = numeric.slice(1).map((n, i) => n - (numeric[i] as bigint))
      expect(diffs.every((d) => d === 1n || d === -1n)).toBe(false)
      // the server's key (the development key: this test sets no THREADLINE_SECRET_KEY) turns them back into row
      // numbers; another key does not
      const server = makeLogIds(logIdKey(Option.none()))
      expect(ids.every((id) => Option.isSome(server.decode(id)))).toBe(true)
      const other = makeLogIds(logIdKey(Option.some(Redacted.make("another-secret-key-of-32-bytes!!"))))
      expect(ids.some((id) => Option.isSome(other.decode(id)))).toBe(false)
    })
  )
})
