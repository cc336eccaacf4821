/**
 * A fresh, migrated database per test file, connecting with the app login `threadline_app` exactly like production
 * (DATABASE_URL), with the owner (DATABASE_OWNER_URL, superuser) for the bypass, fixtures and cluster checks.
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
import { clientLayer, DEV_DATABASE_URL, ReadSql, withOwner } from "../../src/Sql/Client.js"
import { Migrate, MIGRATIONS_DIR } from "../../src/Sql/Migrate.js"

const TEMPLATE_LOCK_KEY = 724_200_010

export interface TestDatabaseInfoShape {
  readonly name: string
  /** The test database as the owner (superuser): fixtures and checks that must bypass the policies. */
  readonly ownerUrl: string
  /** The test database as the app login `threadline_app`: what the application's DATABASE_URL would be. */
  readonly appUrl: string
}
export class TestDatabaseInfo extends Context.Tag("test/TestDatabaseInfo")<TestDatabaseInfo, TestDatabaseInfoShape>() {}

/** The owner (superuser) URL: DATABASE_OWNER_URL as `npm test` sets it, else a single superuser DATABASE_URL. */
const adminUrl = (): string => process.env.DATABASE_OWNER_URL ?? process.env.DATABASE_URL ?? DEV_DATABASE_URL

/** The password given to the app login when the runner named only a superuser URL (see `appBaseUrl`). */
const FALLBACK_APP_PASSWORD = "threadline_app"

/**
 * The app login's URL: DATABASE_URL when DATABASE_OWNER_URL is set too (`npm test`); else the superuser URL with
 * the app login and FALLBACK_APP_PASSWORD, which `createMigratedDatabase` gives the role.
 */
const appBaseUrl = (): string => {
  if (process.env.DATABASE_OWNER_URL !== undefined && process.env.DATABASE_URL !== undefined) {
    return process.env.DATABASE_URL
  }
  const url = new URL(adminUrl())
  url.username = "threadline_app"
  url.password = FALLBACK_APP_PASSWORD
  return url.toString()
}

const withDatabase = (base: string, database: string): string => {
  const url = new URL(base)
  url.pathname = `/${database}`
  return url.toString()
}

const urlFor = (database: string): string => withDatabase(adminUrl(), database)
const appUrlFor = (database: string): string => withDatabase(appBaseUrl(), database)

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
      if (process.env.DATABASE_OWNER_URL === undefined) {
        await admin.query(`ALTER ROLE threadline_app LOGIN PASSWORD '${FALLBACK_APP_PASSWORD}'`)
      }
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
      const applicationName = `test-${label}`.slice(0, 54)
      const client = withOwner(
        clientLayer({ url: Redacted.make(appUrlFor(name)), poolSize: 5, statementTimeoutMs: 30_000, applicationName }),
        clientLayer({
          url: Redacted.make(urlFor(name)),
          poolSize: 2,
          statementTimeoutMs: 30_000,
          applicationName: `${applicationName}-owner`,
          login: "owner"
        })
      ).pipe(Layer.orDie)
      return Layer.mergeAll(
        ReadSql.fromPrimary.pipe(Layer.provideMerge(client)),
        Layer.succeed(TestDatabaseInfo, { name, ownerUrl: urlFor(name), appUrl: appUrlFor(name) })
      )
    })
  )

export const TestDatabase = {
  layer,
  /** The base superuser URL (cluster-level checks: roles, pg_database). */
  adminUrl,
  urlFor,
  appUrlFor
} as const

/** Runs `f` on a plain owner connection to the test database (fixtures across tenants, superuser checks). */
export const asOwner = <A>(f: (c: pg.Client) => Promise<A>) =>
  Effect.flatMap(TestDatabaseInfo, (info) => Effect.promise(() => withClient(info.ownerUrl, f)))
