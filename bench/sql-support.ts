/**
 * Shared by bench/sql.ts: the fresh, migrated `bench_sql` database with BENCH_SQL_ROWS log rows in daily partitions,
 * and the EXPLAIN ANALYZE of each search shape with and without the index meant for it (docs/storage.md §3).
 */
import { type ApiKeyId, type OrganizationId, type ProjectId, RequestContext } from "../src/RequestContext.js"
import { createMigratedDatabase } from "../test/support/Database.js"
import { copyRows, makeRow, orgOf, serverUrl, withClient, withIndexesDropped } from "./logs-support.js"
import { sized } from "./smoke.js"

export const ROWS = sized("BENCH_SQL_ROWS", 300_000, 10_000)
export const ROUNDS = sized("BENCH_SQL_ROUNDS", 7, 1)
const PROJECTS = 20
const DAYS = 7
export const DAY = 86_400_000
export const now = Date.now()
/** The `id=<i>` number of one row of project 3 (6 digits: no other token has as many): one hit in the project. */
export const RARE = String(
  Array.from({ length: 1000 }, (_, k) => 150_000 + k).find(
    (k) => makeRow(k, { projects: PROJECTS, now, days: DAYS }).project === 3
  ) ?? 150_000
)

export const dbUrl = (() => {
  const u = new URL(serverUrl)
  u.pathname = "/bench_sql"
  return u.toString()
})()

export const ctxFor = (project: number) =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "apiKey", apiKeyId: "key_bench" as ApiKeyId },
    organizationId: orgOf(project) as OrganizationId,
    projectId: `prj_bench${project}` as ProjectId
  })

export const setup = async (): Promise<void> => {
  await withClient(serverUrl, (c) => c.query("DROP DATABASE IF EXISTS bench_sql WITH (FORCE)"))
  // a copy of the migrated template, like every test database
  await createMigratedDatabase("bench_sql")
  await withClient(dbUrl, async (c) => {
    for (let d = -DAYS - 1; d <= 0; d++) {
      await c.query("SELECT logs_ensure_partition(($1::timestamptz AT TIME ZONE 'UTC')::date)", [
        new Date(now + d * DAY).toISOString()
      ])
    }
  })
  const t0 = Date.now()
  await withIndexesDropped(dbUrl, () =>
    copyRows(dbUrl, 0, ROWS, 2, (i) => makeRow(i, { projects: PROJECTS, now, days: DAYS }))
  )
  console.log(
    `loaded ${ROWS} rows over ${DAYS} days and ${PROJECTS} projects in ${((Date.now() - t0) / 1000).toFixed(1)} s`
  )
}

const SELECT = `SELECT id::text, time, service, level, message, metadata, trace_id, span_id, session_id FROM logs`
const explains: ReadonlyArray<{ name: string; index: string; where: string }> = [
  { name: "recent page of one project", index: "logs_project_time_idx", where: "" },
  {
    name: "deep keyset page (cursor 3 days back)",
    index: "logs_project_time_idx",
    where: `AND (time, id) < ('${new Date(now - 3 * DAY).toISOString()}'::timestamptz, 0)`
  },
  {
    name: "level=critical, last 24 h",
    index: "logs_project_level_time_idx",
    where: `AND level = ANY('{critical}') AND time >= '${new Date(now - DAY).toISOString()}'`
  },
  {
    name: "service=svc-3, last 24 h",
    index: "logs_project_service_time_idx",
    where: `AND service = ANY('{svc-3}') AND time >= '${new Date(now - DAY).toISOString()}'`
  },
  {
    name: "full text 'refused timeout', last 24 h",
    index: "logs_message_fts_idx",
    where: `AND to_tsvector('simple', message) @@ websearch_to_tsquery('simple', 'refused timeout') AND time >= '${new Date(now - DAY).toISOString()}'`
  },
  {
    name: "full text, a rare term, whole retention",
    index: "logs_message_fts_idx",
    where: `AND to_tsvector('simple', message) @@ websearch_to_tsquery('simple', '${RARE}')`
  },
  { name: "one trace", index: "logs_trace_idx", where: "AND trace_id = '__TRACE__'" }
]

export const explainAll = async (): Promise<void> => {
  const project = 3
  const tenantWhere = `WHERE organization_id = '${orgOf(project)}' AND project_id = 'prj_bench${project}'`
  await withClient(dbUrl, async (c) => {
    const trace = await c.query<{ t: string }>(
      `SELECT trace_id AS t FROM logs WHERE project_id = 'prj_bench${project}' AND trace_id IS NOT NULL LIMIT 1`
    )
    for (const e0 of explains) {
      const e = { ...e0, where: e0.where.replace("__TRACE__", trace.rows[0]?.t ?? "") }
      for (const withIndex of [true, false]) {
        await c.query("BEGIN")
        if (!withIndex) await c.query(`DROP INDEX ${e.index}`)
        await c.query(`SET LOCAL ROLE threadline_app`)
        await c.query(`SELECT set_config('threadline.organization_id', '${orgOf(project)}', true)`)
        const sql = `${SELECT} ${tenantWhere} ${e.where} ORDER BY logs.time DESC, logs.id DESC LIMIT 101`
        const plan = await c.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) ${sql}`)
        await c.query("ROLLBACK")
        const lines = plan.rows.map((r) => r["QUERY PLAN"])
        console.log(`\n### ${e.name} — ${withIndex ? "with" : "WITHOUT"} ${e.index}\n`)
        console.log(lines.filter((l) => !/^\s+Buffers:|Planning:/.test(l)).join("\n"))
      }
    }
  })
}
