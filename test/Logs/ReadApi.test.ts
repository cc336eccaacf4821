/**
 * The read routes beside search, on the application's server over real Postgres: aggregated stats, one entry by
 * id, the entries around one, the services of a project. Their shapes, scoping (write key 403, another tenant's id
 * or project 404, session membership), bounds (400 naming the parameter) and that `/logs/{id}` shadows no route.
 */
import { OpenApi } from "@effect/platform"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Api } from "../../src/Http/Api.js"
import type { LogOut } from "../../src/Logs/QueryTypes.js"
import { logsApp, post, search, Tenants } from "./AppServer.js"

const DAY = "2026-01-10"
const at = (hh: number, mm: number, ss = 0) =>
  `${DAY}T${String(hh).padStart(2, "0")}:${String(mm).padStart(2, "0")}:${String(ss).padStart(2, "0")}.000Z`
const RANGE = `from=${DAY}T00:00:00Z&to=${DAY}T06:00:00Z`

const expect400 = (res: { status: number; json: Record<string, unknown> }, parameter: string, label: string) => {
  if (res.status !== 400) expect({ label, status: res.status, body: res.json }).toEqual({ label, status: 400 })
  expect(res.json).toMatchObject({ error: true, code: 400 })
  const paths = ((res.json.details ?? []) as ReadonlyArray<{ path?: string }>).map((d) => d.path)
  if (!paths.includes(parameter)) expect({ label, details: res.json.details }).toEqual({ label, path: parameter })
}

const ingest = (key: string, entries: ReadonlyArray<Record<string, unknown>>) =>
  Effect.map(post("/api/v1/ingest", key, JSON.stringify({ logs: entries })), (res) => {
    expect(res.status).toBe(200)
    expect(res.json.received).toBe(entries.length)
  })

layer(logsApp("logs-read"), { timeout: 120_000 })("read routes", (it) => {
  it.effect("aggregated: buckets by level, top services and top errors of the range, in the SDK's shape", () =>
    Effect.gen(function* () {
      const { a, b } = yield* Tenants
      yield* ingest(a.writeKey, [
        { service: "agg-api", level: "info", message: "ok", time: at(1, 5) },
        { service: "agg-api", level: "info", message: "ok", time: at(1, 50) },
        { service: "agg-api", level: "error", message: "db down", time: at(1, 55) },
        { service: "agg-api", level: "error", message: "db down", time: at(3, 0) },
        { service: "agg-web", level: "critical", message: "oom", time: at(3, 10) },
        { service: "agg-web", level: "warn", message: "slow", time: at(3, 20) },
        // outside the range
        { service: "agg-api", level: "error", message: "db down", time: `${DAY}T07:00:00.000Z` }
      ])
      // another tenant's entries in the same range never count
      yield* ingest(b.writeKey, [{ service: "agg-api", level: "error", message: "db down", time: at(1, 0) }])
      const res = yield* search("/api/v1/logs/aggregated", `${RANGE}&interval=1h`, { key: a.fullKey })
      expect(res.status).toBe(200)
      const zero = { debug: 0, info: 0, warn: 0, error: 0, critical: 0 }
      expect(res.json).toEqual({
        timeseries: [
          { bucket: `${DAY}T01:00:00.000Z`, total: 3, by_level: { ...zero, info: 2, error: 1 } },
          { bucket: `${DAY}T03:00:00.000Z`, total: 3, by_level: { ...zero, error: 1, critical: 1, warn: 1 } }
        ],
        top_services: [
          { service: "agg-api", count: 4 },
          { service: "agg-web", count: 2 }
        ],
        top_errors: [
          { message: "db down", count: 2 },
          { message: "oom", count: 1 }
        ]
      })
      // the service filter, and a daily bucket
      const web = yield* search("/api/v1/logs/aggregated", `${RANGE}&interval=1d&service=agg-web`, { key: a.fullKey })
      expect(web.json).toEqual({
        timeseries: [{ bucket: `${DAY}T00:00:00.000Z`, total: 2, by_level: { ...zero, warn: 1, critical: 1 } }],
        top_services: [{ service: "agg-web", count: 2 }],
        top_errors: [{ message: "oom", count: 1 }]
      })
      // a session names the project; a member reads it, another organization's owner does not
      const bySession = yield* search("/api/v1/logs/aggregated", `${RANGE}&projectId=${a.projectId}`, {
        session: a.owner.token
      })
      expect(bySession.status).toBe(200)
      expect((bySession.json.top_services as ReadonlyArray<unknown>).length).toBe(2)
      const other = yield* search("/api/v1/logs/aggregated", `${RANGE}&projectId=${a.projectId}`, {
        session: b.owner.token
      })
      expect(other.status).toBe(404)
      // a key reads its own project only
      expect((yield* search("/api/v1/logs/aggregated", `projectId=${a.projectId}`, { key: b.fullKey })).status).toBe(
        404
      )
    })
  )

  it.effect("aggregated bounds: too many buckets, an unknown interval, a reversed range are 400s naming them", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const cases: ReadonlyArray<readonly [string, string]> = [
        // 30 days of minutes: 43,200 buckets
        ["from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z&interval=1m", "interval"],
        ["from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z&interval=1d", "interval"],
        ["interval=2m", "interval"],
        ["interval=60", "interval"],
        ["from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"],
        ["from=yesterday", "from"],
        ["service=a%00b", "service"]
      ]
      for (const [query, parameter] of cases) {
        expect400(yield* search("/api/v1/logs/aggregated", query, { key: a.fullKey }), parameter, query)
      }
      // the edge: 10,000 minutes exactly is allowed
      const edge = yield* search(
        "/api/v1/logs/aggregated",
        `from=2026-01-01T00:00:00Z&to=${new Date(Date.parse("2026-01-01T00:00:00Z") + 10_000 * 60_000).toISOString()}&interval=1m`,
        { key: a.fullKey }
      )
      expect(edge.status).toBe(200)
    })
  )

  it.effect("one entry by its id: the search's record; garbage, another tenant's id and a write key are refused", () =>
    Effect.gen(function* () {
      const { a, b } = yield* Tenants
      yield* ingest(a.writeKey, [
        { service: "one", level: "warn", message: "the one", time: at(2, 0), metadata: { k: 1 }, trace_id: "t-one" }
      ])
      yield* ingest(b.writeKey, [{ service: "one", level: "info", message: "b's", time: at(2, 0) }])
      const found = yield* search("/api/v1/logs", `service=one&${RANGE}`, { key: a.fullKey })
      const record = found.body.logs[0] as LogOut
      expect(record.message).toBe("the one")
      const one = yield* search(`/api/v1/logs/${record.id}`, "", { key: a.fullKey })
      expect(one.status).toBe(200)
      expect(one.json).toEqual(record)
      // a session names the project
      const bySession = yield* search(`/api/v1/logs/${record.id}`, `projectId=${a.projectId}`, {
        session: a.owner.token
      })
      expect(bySession.json).toEqual(record)
      expect((yield* search(`/api/v1/logs/${record.id}`, "", { session: a.owner.token })).status).toBe(400)
      // B's key, B's session on A's project, A's key on B's id: not found, never told apart from garbage
      const bId = (yield* search("/api/v1/logs", `service=one&${RANGE}`, { key: b.fullKey })).body.logs[0]?.id
      for (const [path, query, credential] of [
        [`/api/v1/logs/${record.id}`, "", { key: b.fullKey }],
        [`/api/v1/logs/${record.id}`, `projectId=${a.projectId}`, { session: b.owner.token }],
        [`/api/v1/logs/${bId}`, "", { key: a.fullKey }],
        [`/api/v1/logs/log_${"A".repeat(22)}`, "", { key: a.fullKey }],
        ["/api/v1/logs/log_1", "", { key: a.fullKey }],
        ["/api/v1/logs/12345", "", { key: a.fullKey }]
      ] as const) {
        const res = yield* search(path, query, credential)
        expect({ path, status: res.status }).toEqual({ path, status: 404 })
        expect(res.json).toMatchObject({ error: true, code: 404 })
      }
      const tooLong = yield* search(`/api/v1/logs/${"x".repeat(65)}`, "", { key: a.fullKey })
      expect400(tooLong, "id", "a 65-character id")
      // a write-only key reads nothing, on every read route
      for (const path of [
        `/api/v1/logs/${record.id}`,
        "/api/v1/logs/aggregated",
        "/api/v1/logs/services",
        `/api/v1/logs/context`
      ]) {
        const query = path.endsWith("context") ? `id=${record.id}` : ""
        const res = yield* search(path, query, { key: a.writeKey })
        expect({ path, status: res.status }).toEqual({ path, status: 403 })
      }
    })
  )

  it.effect("context: the entries of the same service just before and after, oldest first, bounded", () =>
    Effect.gen(function* () {
      const { a, b } = yield* Tenants
      const entries: Array<Record<string, unknown>> = []
      for (let i = 0; i < 30; i++) {
        entries.push({ service: "ctx", level: "info", message: `ctx ${i}`, time: at(4, 0, i) })
        // another service interleaved: never part of the context
        entries.push({ service: "ctx-other", level: "info", message: `other ${i}`, time: at(4, 0, i) })
      }
      yield* ingest(a.writeKey, entries)
      const page = yield* search("/api/v1/logs", `service=ctx&q=15&${RANGE}`, { key: a.fullKey })
      const anchor = page.body.logs.find((l) => l.message === "ctx 15") as LogOut
      const res = yield* search("/api/v1/logs/context", `id=${anchor.id}`, { key: a.fullKey })
      expect(res.status).toBe(200)
      const messages = (xs: ReadonlyArray<LogOut>) => xs.map((l) => l.message)
      const body = res.json as unknown as { before: Array<LogOut>; log: LogOut; after: Array<LogOut> }
      expect(body.log).toEqual(anchor)
      expect(messages(body.before)).toEqual(Array.from({ length: 10 }, (_, i) => `ctx ${i + 5}`))
      expect(messages(body.after)).toEqual(Array.from({ length: 10 }, (_, i) => `ctx ${i + 16}`))
      const small = yield* search("/api/v1/logs/context", `id=${anchor.id}&before=2&after=0`, { key: a.fullKey })
      const sb = small.json as unknown as { before: Array<LogOut>; after: Array<LogOut> }
      expect([messages(sb.before), sb.after]).toEqual([["ctx 13", "ctx 14"], []])
      // near the end: what there is
      const last = (yield* search("/api/v1/logs", `service=ctx&limit=1&${RANGE}`, { key: a.fullKey })).body.logs[0]
      const end = yield* search("/api/v1/logs/context", `id=${last?.id}&before=100&after=100`, { key: a.fullKey })
      const eb = end.json as unknown as { before: Array<LogOut>; after: Array<LogOut> }
      expect([eb.before.length, eb.after.length]).toEqual([29, 0])
      for (const [query, parameter] of [
        [`id=${anchor.id}&before=101`, "before"],
        [`id=${anchor.id}&after=-1`, "after"],
        [`id=${anchor.id}&after=1e300`, "after"],
        ["", "id"]
      ] as const) {
        expect400(yield* search("/api/v1/logs/context", query, { key: a.fullKey }), parameter, query)
      }
      expect((yield* search("/api/v1/logs/context", `id=${anchor.id}`, { key: b.fullKey })).status).toBe(404)
      expect((yield* search("/api/v1/logs/context", "id=garbage", { key: a.fullKey })).status).toBe(404)
    })
  )

  it.effect("services: distinct services of the range, most entries first, bounded; static routes not shadowed", () =>
    Effect.gen(function* () {
      const { a, b } = yield* Tenants
      const range = "from=2026-02-01T00:00:00Z&to=2026-02-02T00:00:00Z"
      const t = "2026-02-01T12:00:00.000Z"
      yield* ingest(a.writeKey, [
        { service: "svc-b", level: "info", message: "1", time: t },
        { service: "svc-a", level: "info", message: "2", time: t },
        { service: "svc-a", level: "info", message: "3", time: t },
        { service: "svc-c", level: "info", message: "4", time: "2026-02-03T00:00:00.000Z" }
      ])
      yield* ingest(b.writeKey, [{ service: "svc-secret", level: "info", message: "b", time: t }])
      const res = yield* search("/api/v1/logs/services", range, { key: a.fullKey })
      expect(res.status).toBe(200)
      expect(res.json).toEqual({
        services: [
          { service: "svc-a", count: 2 },
          { service: "svc-b", count: 1 }
        ]
      })
      const one = yield* search("/api/v1/logs/services", `${range}&limit=1`, { key: a.fullKey })
      expect(one.json).toEqual({ services: [{ service: "svc-a", count: 2 }] })
      expect400(yield* search("/api/v1/logs/services", "limit=1001", { key: a.fullKey }), "limit", "limit=1001")
      expect400(yield* search("/api/v1/logs/services", "limit=0", { key: a.fullKey }), "limit", "limit=0")
      // the static routes beside `/logs/{id}` answer with their own shapes
      const stats = yield* search("/api/v1/logs/stats", range, { key: a.fullKey })
      expect(stats.status).toBe(200)
      expect(stats.json).toHaveProperty("buckets")
      const trace = yield* search("/api/v1/logs/trace/none", range, { key: a.fullKey })
      expect(trace.json).toMatchObject({ logs: [] })
    })
  )
})

describe("OpenAPI", () => {
  it("every read route has a summary and a description", () => {
    const spec = OpenApi.fromApi(Api)
    for (const path of ["aggregated", "context", "services", "{id}"]) {
      const op = spec.paths[`/api/v1/logs/${path}`]?.get
      expect({ path, summary: typeof op?.summary, description: typeof op?.description }).toEqual({
        path,
        summary: "string",
        description: "string"
      })
    }
  })
})
