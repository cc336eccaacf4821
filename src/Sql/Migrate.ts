/**
 * Applies the numbered migrations in ./Migrations (`NNNN_name.ts`, each default-exporting an Effect) with the
 * @effect/sql Migrator. Safe when several processes start at once: everything runs in ONE transaction that first
 * takes a transaction-scoped advisory lock, so a second process waits, then finds nothing left to do.
 * Migrations run as the login role (the owner), never as the app role: use `Migrate.runUrl` or an owner client.
 */
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Effect, type Redacted } from "effect"
import { readdir } from "node:fs/promises"
import { fileURLToPath } from "node:url"

/** Arbitrary but fixed: the advisory lock key all Threadline migrators agree on. */
const MIGRATION_LOCK_KEY = 724_200_001
export const MIGRATIONS_TABLE = "effect_sql_migrations"
export const MIGRATIONS_DIR = new URL("./Migrations/", import.meta.url)
const FILE = /^(\d{4})_(\w+)\.(ts|js)$/

/** The migration files in id order, found by listing the directory (areas add files; nothing to register). */
const migrationFiles: Effect.Effect<ReadonlyArray<string>, Migrator.MigrationError> = Effect.tryPromise({
  try: () => readdir(fileURLToPath(MIGRATIONS_DIR)),
  catch: (cause) => new Migrator.MigrationError({ reason: "import-error", message: "cannot list migrations", cause })
}).pipe(Effect.map((files) => files.filter((f) => FILE.test(f)).sort()))

const loader: Migrator.Loader = Effect.map(migrationFiles, (files) =>
  files.map((file): Migrator.ResolvedMigration => {
    const [, id, name] = FILE.exec(file) ?? []
    return [Number(id), name ?? file, Effect.promise(() => import(new URL(file, MIGRATIONS_DIR).href))]
  })
)

const migrator = Migrator.make({})

/** Applies the pending migrations on the current client (which must act as the owner); returns what it applied. */
const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const applied = yield* sql.withTransaction(
    Effect.gen(function* () {
      yield* sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`
      // The Migrator's own "create the table unless it exists" races between processes; ours runs under the lock.
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(MIGRATIONS_TABLE)} (
        migration_id integer PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        name text NOT NULL
      )`
      return yield* migrator({ loader, table: MIGRATIONS_TABLE })
    })
  )
  yield* Effect.logInfo("migrations applied", { applied: applied.map(([id, name]) => `${id}_${name}`) })
  return applied
}).pipe(Effect.withSpan("Sql.migrate"))

/** Runs the migrations over a short-lived single connection to `url` as its login role. */
const runUrl = (url: Redacted.Redacted<string>) =>
  run.pipe(Effect.provide(PgClient.layer({ url, maxConnections: 1, applicationName: "threadline-migrate" })))

export const Migrate = { run, runUrl, files: migrationFiles } as const
