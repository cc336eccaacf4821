/**
 * Bad search input never reaches the database as an error: every malformed parameter of search, stats and trace
 * is a 400 whose `details` names it (it used to be a 503 when Postgres refused the value: a non-numeric cursor id,
 * `interval=1e300`). Old-format and forged log ids inside cursors are refused the same way.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { logIdKey, makeLogIds } from "../../src/Logs/LogId.js"
import { logsApp, post, search, Tenants } from "./AppServer.js"

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v), "utf8").toString("base64url")
const T = "2026-01-01T00:00:00.000000Z"
const ids = makeLogIds(logIdKey(Option.none()))

const CURSORS: ReadonlyArray<readonly [string, string]> = [
  ["non-numeric id", b64({ t: T, i: "abc" })],
  ["old numeric id", b64({ t: T, i: "1" })],
  ["old log_ id", b64({ t: T, i: "log_1" })],
  ["forged id", b64({ t: T, i: `log_${"A".repeat(22)}` })],
  ["non-string t", b64({ t: 5, i: ids.encode("1") })],
  ["huge numbers", b64({ t: 1e308, i: 1e300 })],
  ["nested garbage", b64({ t: { a: [1, { b: null }] }, i: [[[]]] })],
  ["impossible date", b64({ t: "2026-13-45T99:00:00.000000Z", i: ids.encode("1") })],
  ["rolled-over date", b64({ t: "2026-02-30T00:00:00.000000Z", i: ids.encode("1") })],
  ["year 0", b64({ t: "0000-01-01T00:00:00.000000Z", i: ids.encode("1") })],
  ["not JSON", b64("{{{")],
  ["JSON null", b64("null")],
  ["not base64", "%%%***"],
  ["NUL", "%00"]
]

const expect400 = (res: { status: number; json: Record<string, unknown> }, parameter: string, label: string) => {
  if (res.status !== 400) expect({ label, status: res.status, body: res.json }).toEqual({ label, status: 400 })
  expect(res.json).toMatchObject({ error: true, code: 400 })
  const paths = ((res.json.details ?? []) as ReadonlyArray<{ path?: string }>).map((d) => d.path)
  if (!paths.includes(parameter)) expect({ label, details: res.json.details }).toEqual({ label, path: parameter })
}

layer(logsApp("logs-input"), { timeout: 120_000 })("search input", (it) => {
  it.effect("every malformed cursor is 400 naming `cursor`, on search and trace (a non-numeric id was 503)", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      yield* post("/api/v1/ingest", a.writeKey, JSON.stringify([{ service: "in", level: "info", message: "x" }]))
      for (const [label, cursor] of CURSORS) {
        const q = `cursor=${cursor.startsWith("%") ? cursor : encodeURIComponent(cursor)}`
        expect400(yield* search("/api/v1/logs", q, { key: a.fullKey }), "cursor", label)
        expect400(yield* search("/api/v1/logs/trace/abc", q, { key: a.fullKey }), "cursor", `trace ${label}`)
      }
      // a cursor the API returned still works
      const first = yield* search("/api/v1/logs", "limit=1", { key: a.fullKey })
      expect(first.status).toBe(200)
      const id = first.body.logs[0]?.id as string
      const own = b64({ t: first.body.logs[0]?.time.replace(/(\.\d{3})Z$/, "$1000Z"), i: id })
      expect((yield* search("/api/v1/logs", `cursor=${own}`, { key: a.fullKey })).status).toBe(200)
    })
  )

  it.effect("interval, limit, offset, from, to and text parameters: 400 naming each (interval=1e300 was 503)", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      const cases: ReadonlyArray<readonly [string, string, string]> = [
        ["/api/v1/logs/stats", "interval=1e300", "interval"],
        ["/api/v1/logs/stats", "interval=-1", "interval"],
        ["/api/v1/logs/stats", "interval=0", "interval"],
        ["/api/v1/logs/stats", "interval=NaN", "interval"],
        ["/api/v1/logs/stats", "interval=Infinity", "interval"],
        ["/api/v1/logs/stats", "interval=1.5", "interval"],
        ["/api/v1/logs/stats", "interval=99999999999", "interval"],
        ["/api/v1/logs/stats", "interval=abc", "interval"],
        // a valid interval that makes too many buckets for the range
        ["/api/v1/logs/stats", "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=60", "interval"],
        // no interval over ten thousand years: the default width cannot cover it either
        ["/api/v1/logs/stats", "from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z", "interval"],
        ["/api/v1/logs/stats", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"],
        ["/api/v1/logs", "limit=1e300", "limit"],
        ["/api/v1/logs", "limit=-1", "limit"],
        ["/api/v1/logs", "limit=0", "limit"],
        ["/api/v1/logs", "limit=NaN", "limit"],
        ["/api/v1/logs", "limit=1001", "limit"],
        ["/api/v1/logs", "offset=1e300", "offset"],
        ["/api/v1/logs", "offset=-1", "offset"],
        ["/api/v1/logs", "offset=NaN", "offset"],
        ["/api/v1/logs", "offset=100001", "offset"],
        ["/api/v1/logs", "offset=2.5", "offset"],
        ["/api/v1/logs", "from=1e300", "from"],
        ["/api/v1/logs", "to=yesterday", "to"],
        ["/api/v1/logs", "from=%2B275760-09-13T00:00:00.000Z", "from"],
        ["/api/v1/logs", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"],
        ["/api/v1/logs/trace/abc", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"],
        ["/api/v1/logs/trace/abc", "limit=1e300", "limit"],
        ["/api/v1/logs", "q=a%00b", "q"],
        ["/api/v1/logs", "service=a%00b", "service"],
        ["/api/v1/logs", "traceId=a%00b", "traceId"],
        ["/api/v1/logs", "projectId=prj%00", "projectId"],
        ["/api/v1/logs/trace/a%00b", "", "traceId"],
        ["/api/v1/logs", "level=loud", "level"],
        ["/api/v1/logs", "searchMode=regex", "searchMode"]
      ]
      for (const [path, query, parameter] of cases) {
        expect400(yield* search(path, query, { key: a.fullKey }), parameter, `${path}?${query}`)
      }
      // the edges that are valid stay valid
      for (const [path, query] of [
        ["/api/v1/logs/stats", "interval=31622400"],
        ["/api/v1/logs/stats", "interval=300"],
        ["/api/v1/logs", "limit=1000&offset=100000"],
        ["/api/v1/logs", "q=%E2%9C%93%20ok"]
      ] as const) {
        const res = yield* search(path, query, { key: a.fullKey })
        expect({ query, status: res.status }).toEqual({ query, status: 200 })
      }
    })
  )

  it.effect("a session without projectId: 400 naming projectId", () =>
    Effect.gen(function* () {
      const { a } = yield* Tenants
      expect400(yield* search("/api/v1/logs", "limit=5", { session: a.owner.token }), "projectId", "session")
    })
  )
})
