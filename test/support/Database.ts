/**
 * A fresh, migrated database per test file, connecting as `threadline_app` exactly like production.
 *
 * Speed: the migrations run once into a template database named after a hash of src/Sql/Migrations, and each
 * file gets `CREATE DATABASE … TEMPLATE` of it (a file copy, ~100 ms). Creation is serialised across processes by
 * an advisory lock on the admin connection; the template is built under a temporary name and renamed when
 * complete, so a crash never leaves a half-migrated template behind. Changing a migration changes the hash, so a
 * stale template is never used. The per-file database is dropped (WITH FORCE) when the layer is released.
 */
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { readdir, readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import pg from "pg"
import { clientLayer, DEV_DATABASE_URL, ReadSql } from "../../src/Sql/Client.js"
import { Migrate, MIGRATIONS_DIR } from "../../src/Sql/Migrate.js"

const TEMPLATE_LOCK_KEY = 724_200_010

export interface TestDatabaseInfoShape {
  readonly name: string
  /** The test database as the login (superuser) role: fixtures and checks that must bypass the policies. */
  readonly ownerUrl: string
}
export class TestDatabaseInfo extends Context.Tag("test/TestDatabaseInfo")<TestDatabaseInfo, TestDatabaseInfoShape>() {}

const adminUrl = (): string => process.env.DATABASE_URL ?? DEV_DATABASE_URL

const urlFor = (database: string): string => {
  const url = new URL(adminUrl())
  url.pathname = `/${database}`
  return url.toString()
}

const withClient = async <A>(url: string, f: (c: pg.Client) => Promise<A>): Promise<A> => {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return await f(c)
  } finally {
    await c.end()
  }
}

const migrationsHash = async (): Promise<string> => {
  const dir = fileURLToPath(MIGRATIONS_DIR)
  const hash = createHash("sha256")
  for (const file of (await readdir(dir)).sort()) {
    hash.update(file).update(await readFile(`${dir}/${file}`))
  }
  return hash.digest("hex").slice(0, 16)
}

/** Builds the template if this version of the migrations has none yet; must run under the advisory lock. */
const ensureTemplate = async (admin: pg.Client, template: string): Promise<void> => {
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [template])
  if (exists.rowCount !== 0) return
  const building = `${template}_b${process.pid}`
  await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${building}`)
  await Effect.runPromise(Migrate.runUrl(Redacted.make(urlFor(building))).pipe(Effect.orDie))
  await admin.query(`ALTER DATABASE ${building} RENAME TO ${template}`)
}

/** Creates `database` from the template of the current migrations. */
export const createMigratedDatabase = async (database: string): Promise<void> => {
  const template = `tl_tpl_${await migrationsHash()}`
  await withClient(adminUrl(), async (admin) => {
    await admin.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY])
    try {
      await ensureTemplate(admin, template)
      await admin.query(`CREATE DATABASE ${database} TEMPLATE ${template}`)
    } finally {
      await admin.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK_KEY])
    }
  })
}

export const dropDatabase = (database: string): Promise<unknown> =>
  withClient(adminUrl(), (admin) => admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`))

const databaseName = (label: string): string => {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .slice(0, 30)
  return `t_${clean}_${process.pid}_${randomBytes(3).toString("hex")}`
}

const layer = (label: string): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient | ReadSql | TestDatabaseInfo> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const name = databaseName(label)
      yield* Effect.acquireRelease(
        Effect.promise(() => createMigratedDatabase(name)),
        () => Effect.promise(() => dropDatabase(name))
      )
      const client = clientLayer({
        url: Redacted.make(urlFor(name)),
        poolSize: 5,
        statementTimeoutMs: 30_000,
        applicationName: `test-${label}`.slice(0, 60)
      }).pipe(Layer.orDie)
      return Layer.mergeAll(
        ReadSql.fromPrimary.pipe(Layer.provideMerge(client)),
        Layer.succeed(TestDatabaseInfo, { name, ownerUrl: urlFor(name) })
      )
    })
  )

export const TestDatabase = {
  layer,
  /** The base superuser URL from DATABASE_URL (cluster-level checks: roles, pg_database). */
  adminUrl,
  urlFor
} as const

/** Runs `f` on a plain owner connection to the test database (fixtures across tenants, superuser checks). */
export const asOwner = <A>(f: (c: pg.Client) => Promise<A>) =>
  Effect.flatMap(TestDatabaseInfo, (info) => Effect.promise(() => withClient(info.ownerUrl, f)))
