/**
 * Shared by bench/ingest.ts and bench/query.ts: a fresh migrated database (the real schema), a deterministic row generator,
 * raw COPY loading (as the database owner, which row-level security does not restrict) and percentiles.
 */
import { createHash } from "node:crypto"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
import { createMigratedDatabase, TestDatabase } from "../test/support/Database.js"

/** The owner (superuser): creates the databases and loads rows past the policies. */
export const serverUrl =
  process.env.DATABASE_OWNER_URL ?? process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:55432/postgres"

/** The app login's URL to the database of `ownerUrl`: what the application connects with. */
export const appUrlOf = (ownerUrl: string): string => TestDatabase.appUrlFor(new URL(ownerUrl).pathname.slice(1))

export const withClient = async <A>(url: string, f: (c: pg.Client) => Promise<A>): Promise<A> => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return await f(c)
  } finally {
    await c.end()
  }
}

/**
 * A fixed full API key of prj_bench0, well formed as the tenancy area mints them (`tl_` + 43 base64url characters)
 * and stored as it stores them (SHA-256 hex of the secret), so the real server's Credentials accept it.
 */
export const BENCH_KEY = `tl_${"bench".repeat(9).slice(0, 43)}`

/**
 * Creates `bench_<name>` afresh from the migrated template (the real schema: RLS, grants, daily partitions, GIN
 * full-text index) with organizations org_bench0..9 and projects prj_bench0..(projects-1), daily partitions for
 * the `days` before now and the next 3, and BENCH_KEY as a full key of prj_bench0. Returns the owner URL.
 */
export const freshDatabase = async (name: string, o: { projects: number; days: number }): Promise<string> => {
  const db = `bench_${name}`
  await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`))
  await createMigratedDatabase(db)
  const url = new URL(serverUrl)
  url.pathname = `/${db}`
  await withClient(url.toString(), async (c) => {
    await c.query(
      `INSERT INTO organizations (id, slug, name, retention_days)
       SELECT 'org_bench' || g, 'bench-' || g, 'Bench ' || g, 90 FROM generate_series(0, 9) g`
    )
    await c.query(
      `INSERT INTO projects (id, organization_id, name)
       SELECT 'prj_bench' || g, 'org_bench' || (g % 10), 'Bench ' || g FROM generate_series(0, $1::int - 1) g`,
      [o.projects]
    )
    await c.query(
      `INSERT INTO api_keys (id, organization_id, project_id, name, type, key_hash, prefix)
       VALUES ('key_bench', 'org_bench0', 'prj_bench0', 'bench', 'full', $1, 'tl_key')`,
      [createHash("sha256").update(BENCH_KEY, "utf8").digest("hex")]
    )
    // the partitions rows will land in, as the scheduled maintenance would have created them day by day
    await c.query("SELECT * FROM logs_maintenance(now() - make_interval(days => $1::int), $1::int + 3)", [o.days])
  })
  return url.toString()
}

export interface Row {
  readonly time: Date
  readonly project: number
  readonly service: string
  readonly level: string
  readonly message: string
  readonly metadata: string
  readonly traceId: string | null
}

const WORDS = [
  "request",
  "handled",
  "timeout",
  "payment",
  "refused",
  "cache",
  "miss",
  "retry",
  "database",
  "checkout",
  "upstream",
  "user",
  "session",
  "queue",
  "worker",
  "latency"
] as const
const LEVELS = ["debug", "info", "info", "info", "info", "info", "warn", "warn", "error", "critical"] as const

/** A cheap deterministic PRNG so runs are comparable. */
const mix = (i: number): number => {
  let x = (i + 0x9e3779b9) | 0
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** Row `i`: spread uniformly over `days` before `now` and over `projects`; ~1 in 3 rows belong to a trace. */
export const makeRow = (i: number, o: { projects: number; now: number; days: number }): Row => {
  const r = mix(i)
  const r2 = mix(r)
  const span = o.days * 86_400_000
  const w = (k: number) => WORDS[(r2 >>> (k * 4)) % WORDS.length]
  return {
    time: new Date(o.now - (r % span) - 1),
    project: r2 % o.projects,
    service: `svc-${(r >>> 8) % 8}`,
    level: LEVELS[(r >>> 4) % LEVELS.length] ?? "info",
    message: `${w(0)} ${w(1)} ${w(2)} id=${i} took ${r % 997} ms ${w(3)} ${w(4)}`,
    metadata: `{"i":${i},"path":"/api/v1/items/${r % 1000}","user":{"id":${r2 % 5000}}}`,
    traceId: r % 3 === 0 ? `${(Math.floor(i / 5) >>> 0).toString(16).padStart(32, "0")}` : null
  }
}

const copyLine = (row: Row, org: (p: number) => string): string =>
  `${row.time.toISOString()}\t${org(row.project)}\tprj_bench${row.project}\t${row.service}\t${row.level}\t${row.message}\t${row.metadata}\t${row.traceId ?? "\\N"}\n`

export const orgOf = (project: number): string => `org_bench${project % 10}`

/** Raw COPY of `rows(i)` for i in [from, to), in `parallel` streams of chunks. */
export const copyRows = async (
  url: string,
  from: number,
  to: number,
  parallel: number,
  rows: (i: number) => Row
): Promise<void> => {
  const per = Math.ceil((to - from) / parallel)
  await Promise.all(
    Array.from({ length: parallel }, (_, p) =>
      withClient(url, async (c) => {
        const start = from + p * per
        const end = Math.min(to, start + per)
        async function* chunks() {
          for (let i = start; i < end; i += 5000) {
            let s = ""
            for (let j = i; j < Math.min(end, i + 5000); j++) s += copyLine(rows(j), orgOf)
            yield s
          }
        }
        const stream = c.query(
          copyFrom(
            "COPY logs (time, organization_id, project_id, service, level, message, metadata, trace_id) FROM STDIN"
          )
        )
        await pipeline(Readable.from(chunks()), stream)
      })
    )
  )
}

/** Drops the secondary indexes of `logs`, runs `f`, recreates them from their saved definitions. */
export const withIndexesDropped = async (url: string, f: () => Promise<void>): Promise<void> => {
  const defs = await withClient(url, async (c) => {
    const r = await c.query<{ name: string; def: string }>(
      `SELECT indexname AS name, indexdef AS def FROM pg_indexes
       WHERE tablename = 'logs' AND indexname NOT IN (SELECT conname FROM pg_constraint)`
    )
    for (const { name } of r.rows) await c.query(`DROP INDEX ${name}`)
    return r.rows
  })
  await f()
  await withClient(url, async (c) => {
    await c.query("SET maintenance_work_mem = '512MB'")
    // pg_indexes shows a partitioned index as "ON ONLY", which would leave it invalid with no partition indexes.
    for (const { def } of defs) await c.query(def.replace(" ON ONLY ", " ON "))
    await c.query("ANALYZE logs")
  })
}

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}
