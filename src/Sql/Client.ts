/**
 * The Postgres clients. Every runtime connection logs in with the configured URL and then acts as the non-owner
 * role `threadline_app` (startup option `-c role=threadline_app`), so the tenant policies apply to everything the
 * application runs; migrations and the named bypass (Tenant.ts) act as the login role instead.
 * Names are transformed camelCase ⇄ snake_case (`sql.insert({ projectId })`, rows come back as `projectId`);
 * JSON values are left untouched, so log metadata keys are returned exactly as ingested.
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option, Redacted, String as Str } from "effect"
import type { ConfigError } from "effect/ConfigError"
import pg from "pg"
import { AppConfig } from "../Config.js"
import { SqlCommentLive } from "./Comment.js"
import { Migrate } from "./Migrate.js"
import { APP_ROLE } from "./Migrations/Rls.js"
import { commentedTransactions } from "./Transaction.js"

export { APP_ROLE }

/** The embedded development server started by scripts/ (see COMMON.md); used when DATABASE_URL is unset. */
export const DEV_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:55432/postgres"

export interface ClientOptions {
  readonly url: Redacted.Redacted<string>
  readonly poolSize: number
  readonly statementTimeoutMs: number
  readonly applicationName: string
}

const acquirePool = (options: ClientOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const pool = new pg.Pool({
          connectionString: Redacted.value(options.url),
          max: options.poolSize,
          application_name: options.applicationName,
          // Startup options apply before the first statement, so no statement ever runs as the owner by accident.
          options: `-c role=${APP_ROLE} -c statement_timeout=${Math.max(0, Math.trunc(options.statementTimeoutMs))}`
        })
        // An idle client's error (server restart) must not crash the process; the pool replaces the client.
        pool.on("error", () => {})
        try {
          await pool.query("SELECT 1")
        } catch (cause) {
          await pool.end()
          throw cause
        }
        return pool
      },
      catch: (cause) => new SqlError({ cause, message: "PgClient: failed to connect" })
    }),
    (pool) => Effect.promise(() => pool.end())
  )

/**
 * A client (and its pool) acting as the app role, with the sqlcommenter transformer installed and transaction
 * control statements commented as well (Transaction.ts).
 */
export const clientLayer = (options: ClientOptions): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> =>
  Layer.merge(
    PgClient.layerFromPool({
      acquire: acquirePool(options),
      applicationName: options.applicationName,
      transformQueryNames: Str.camelToSnake,
      transformResultNames: Str.snakeToCamel,
      transformJson: false
    }).pipe(
      // PgClient and SqlClient are the same object in this layer's output
      Layer.tap((context) => Effect.sync(() => commentedTransactions(Context.get(context, PgClient.PgClient))))
    ),
    SqlCommentLive
  )

/** DATABASE_URL, or the development server when it is unset. */
export const primaryUrl = (config: AppConfig): Redacted.Redacted<string> =>
  Option.getOrElse(config.databaseUrl, () => Redacted.make(DEV_DATABASE_URL))

/** The primary pool; applies pending migrations first when THREADLINE_MIGRATE_ON_START is true. */
export const SqlLive: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, ConfigError | SqlError, AppConfig> =
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const url = primaryUrl(config)
      if (config.migrateOnStart) {
        // A failed migration leaves the schema unknown: the process must not serve on it.
        yield* Migrate.runUrl(url).pipe(Effect.catchTag("MigrationError", (e) => Effect.die(e)))
      }
      return clientLayer({
        url,
        poolSize: config.databasePoolSize,
        statementTimeoutMs: config.statementTimeoutMs,
        applicationName: "threadline"
      })
    })
  )

/** The client the query path reads with: a replica when DATABASE_READ_URL is set, else the primary client. */
export class ReadSql extends Context.Tag("Sql/ReadSql")<ReadSql, SqlClient.SqlClient>() {
  /** Uses the primary client as the read client (tests, single-node deployments). */
  static readonly fromPrimary: Layer.Layer<ReadSql, never, SqlClient.SqlClient> = Layer.effect(
    ReadSql,
    SqlClient.SqlClient
  )
}

export const ReadSqlLive: Layer.Layer<ReadSql, ConfigError | SqlError, AppConfig | SqlClient.SqlClient> =
  Layer.unwrapEffect(
    Effect.map(AppConfig, (config) =>
      Option.match(config.databaseReadUrl, {
        onNone: () => ReadSql.fromPrimary,
        onSome: (url) =>
          Layer.effect(ReadSql, SqlClient.SqlClient).pipe(
            Layer.provide(
              clientLayer({
                url,
                poolSize: config.databasePoolSize,
                statementTimeoutMs: config.statementTimeoutMs,
                applicationName: "threadline-read"
              })
            )
          )
      })
    )
  )

/** Both clients, sharing the primary pool when there is no replica: what a process that touches storage needs. */
export const StorageLive: Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient | ReadSql,
  ConfigError | SqlError,
  AppConfig
> = ReadSqlLive.pipe(Layer.provideMerge(SqlLive))
