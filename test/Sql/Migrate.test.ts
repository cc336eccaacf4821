/**
 * Migrations from an empty database, twice in a row, and from two processes (real `threadline migrate` child
 * processes) started at the same moment.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import pg from "pg"
import { Migrate } from "../../src/Sql/Migrate.js"
import { dropDatabase, TestDatabase } from "../support/Database.js"

const query = async <R extends pg.QueryResultRow>(url: string, text: string): Promise<Array<R>> => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query<R>(text)).rows
  } finally {
    await c.end()
  }
}

/** A brand-new empty database (not from the template), dropped when the scope closes. */
const emptyDatabase = Effect.acquireRelease(
  Effect.promise(async () => {
    const name = `t_migrate_${process.pid}_${randomBytes(3).toString("hex")}`
    await query(TestDatabase.adminUrl(), `CREATE DATABASE ${name}`)
    return TestDatabase.urlFor(name)
  }),
  (url) => Effect.promise(() => dropDatabase(new URL(url).pathname.slice(1)))
)

const migrationIds = (url: string) =>
  Effect.promise(() => query<{ id: number }>(url, "SELECT migration_id AS id FROM effect_sql_migrations ORDER BY 1"))

const runCli = (url: string) =>
  Effect.async<{ code: number | null; out: string }>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "migrate"], {
      // an older single-URL deployment: `migrate` takes DATABASE_URL as the owner when DATABASE_OWNER_URL is unset
      env: { ...process.env, DATABASE_URL: url, DATABASE_OWNER_URL: "", LOG_LEVEL: "INFO" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (out += d.toString()))
    child.on("exit", (code) => resume(Effect.succeed({ code, out })))
  })

describe("migrations", () => {
  it.scoped(
    "from empty: every migration applies, then a second run applies nothing",
    () =>
      Effect.gen(function* () {
        const url = yield* emptyDatabase
        const files = yield* Migrate.files
        const first = yield* Migrate.runUrl(Redacted.make(url))
        expect(first.map(([id]) => id)).toEqual(files.map((f) => Number(f.slice(0, 4))))
        expect(first.length).toBeGreaterThanOrEqual(4)
        const second = yield* Migrate.runUrl(Redacted.make(url))
        expect(second).toEqual([])
        const state = yield* Effect.promise(() =>
          query<{ tables: number; role: boolean; system: string; partitions: number }>(
            url,
            `SELECT
              (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND tablename IN
                ('organizations','users','organization_members','sessions','projects','api_keys','logs','alert_rules',
                 'alert_events','webhook_deliveries','webhook_attempts','audit_log','usage_counters',
                 'organization_limits')) AS tables,
              EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'threadline_app') AS role,
              (SELECT slug FROM organizations WHERE id = 'org_system') AS system,
              (SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'logs'::regclass) AS partitions`
          )
        )
        // 14 tables; logs = default + today + 3 days ahead
        expect(state[0]).toEqual({ tables: 14, role: true, system: "system", partitions: 5 })
      }),
    60_000
  )

  it.scoped(
    "two `threadline migrate` processes at once: both succeed, each migration is applied exactly once",
    () =>
      Effect.gen(function* () {
        const url = yield* emptyDatabase
        const [a, b] = yield* Effect.all([runCli(url), runCli(url)], { concurrency: 2 })
        expect([a.code, b.code]).toEqual([0, 0])
        const applied = [a.out, b.out].map((out) => {
          const line = out.split("\n").find((l) => l.includes('"migrations applied"')) ?? "{}"
          return (JSON.parse(line) as { applied?: Array<string> }).applied?.length
        })
        const files = yield* Migrate.files
        // one process did the work, the other waited on the lock and found nothing left
        expect([...applied].sort()).toEqual([0, files.length])
        const ids = yield* migrationIds(url)
        expect(ids.map((r) => r.id)).toEqual(files.map((f) => Number(f.slice(0, 4))))
      }),
    120_000
  )

  it.scoped(
    "four concurrent migrators in one process agree too",
    () =>
      Effect.gen(function* () {
        const url = yield* emptyDatabase
        const results = yield* Effect.all(
          Array.from({ length: 4 }, () => Migrate.runUrl(Redacted.make(url))),
          { concurrency: 4 }
        )
        const files = yield* Migrate.files
        expect(results.map((r) => r.length).sort()).toEqual([0, 0, 0, files.length])
      }),
    60_000
  )
})
