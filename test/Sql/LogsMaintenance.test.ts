/**
 * `logs_maintenance(now)` through the named bypass: creates the upcoming daily partitions, moves rows that
 * waited in the default partition into their new day, drops days past every organization's retention and deletes
 * the remaining rows per organization.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { RequestContext } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner, TestDatabase } from "../support/Database.js"

const DAY = 86_400_000
const system = RequestContext.system("logs-maintenance-test")

const maintenance = (at: Date) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Tenant.bypass(
      "logs-retention",
      sql<{ deletedRows: number; droppedPartitions: number; createdPartitions: number }>`
        SELECT deleted_rows::int, dropped_partitions, created_partitions FROM logs_maintenance(${at})`
    )
  ).pipe(
    Effect.map((rows) => rows[0]),
    RequestContext.withContext(system)
  )

const partitionOf = (time: Date) =>
  asOwner((c) =>
    c.query<{ p: string }>(`SELECT tableoid::regclass::text AS p FROM logs WHERE time = $1`, [time.toISOString()])
  ).pipe(Effect.map((r) => r.rows.map((x) => x.p)))

const dayName = (d: Date) => `logs_p${d.toISOString().slice(0, 10).replace(/-/g, "")}`

const insertLog = (org: string, time: Date) =>
  asOwner((c) =>
    c.query(
      `INSERT INTO logs (time, organization_id, project_id, service, level, message) VALUES ($1, $2, 'prj_m', 's', 'info', 'm')`,
      [time.toISOString(), org]
    )
  )

layer(TestDatabase.layer("logs-maint"), { timeout: 60_000 })("logs_maintenance", (it) => {
  it.effect("creates today's and the next 3 days' partitions, once", () =>
    Effect.gen(function* () {
      const at = new Date(Date.now() + 100 * DAY)
      // (the migration's own partitions, 100 days before `at`, are past retention then and dropped)
      expect(yield* maintenance(at)).toMatchObject({ deletedRows: 0, createdPartitions: 4 })
      expect(yield* maintenance(at)).toEqual({ deletedRows: 0, droppedPartitions: 0, createdPartitions: 0 })
      const names = yield* asOwner((c) =>
        c.query<{ n: string }>(
          "SELECT c.relname AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'logs'::regclass"
        )
      )
      for (let i = 0; i < 4; i++)
        expect(names.rows.map((r) => r.n)).toContain(dayName(new Date(at.getTime() + i * DAY)))
    })
  )

  it.effect("rows that arrived before their day's partition move into it, keeping their ids", () =>
    Effect.gen(function* () {
      const at = new Date(Date.now() + 200 * DAY)
      yield* insertLog("org_system", at)
      expect(yield* partitionOf(at)).toEqual(["logs_default"])
      const before = yield* asOwner((c) => c.query<{ id: string }>("SELECT id::text FROM logs WHERE time = $1", [at]))
      yield* maintenance(at)
      expect(yield* partitionOf(at)).toEqual([dayName(at)])
      const after = yield* asOwner((c) => c.query<{ id: string }>("SELECT id::text FROM logs WHERE time = $1", [at]))
      expect(after.rows).toEqual(before.rows)
    })
  )

  it.effect("retention: per organization, and whole days past the longest retention are dropped", () =>
    Effect.gen(function* () {
      yield* asOwner((c) =>
        c.query(`INSERT INTO organizations (id, slug, name, retention_days) VALUES
          ('org_short', 'short', 's', 1), ('org_long', 'long', 'l', 10)`)
      )
      const now = new Date()
      const twoDaysAgo = new Date(now.getTime() - 2 * DAY)
      const longAgo = new Date(now.getTime() - 45 * DAY)
      // a partition for a day 45 days back, holding a row of the long-retention organization
      yield* maintenance(longAgo)
      yield* insertLog("org_long", longAgo)
      expect(yield* partitionOf(longAgo)).toEqual([dayName(longAgo)])
      yield* insertLog("org_short", twoDaysAgo)
      yield* insertLog("org_long", twoDaysAgo)
      yield* insertLog("org_gone", twoDaysAgo)
      const result = yield* maintenance(now)
      // org_system keeps 30 days, the longest: 45 days back is dropped whole, without a row scan
      expect(result?.droppedPartitions).toBeGreaterThanOrEqual(4)
      expect(result?.deletedRows).toBe(2)
      const left = yield* asOwner((c) =>
        c.query<{ o: string }>("SELECT organization_id AS o FROM logs WHERE time = $1 OR time = $2 ORDER BY 1", [
          twoDaysAgo,
          longAgo
        ])
      )
      expect(left.rows).toEqual([{ o: "org_long" }])
      const gone = yield* asOwner((c) => c.query("SELECT to_regclass($1) AS r", [dayName(longAgo)]))
      expect(gone.rows).toEqual([{ r: null }])
    })
  )
})
