/**
 * The Postgres clients: the primary and the read pool log in with DATABASE_URL (/ DATABASE_READ_URL) as the app login
 * `threadline_app`, which owns nothing and is refused if it could escape the policies; a small owner pool
 * (DATABASE_OWNER_URL) serves migrations and the audited bypass (Tenant.ts). Names are camelCase ⇄ snake_case; JSON
 * values are left untouched, so log metadata keys are returned exactly as ingested.
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

/** The embedded development server's superuser (scripts/), the owner when no URL is set. */
export const DEV_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:55432/postgres"
/** The same server's app login (its password is set by scripts/support/Postgres.ts; development only). */
export const DEV_APP_DATABASE_URL = `postgres://${APP_ROLE}:${APP_ROLE}@127.0.0.1:55432/postgres`

export interface ClientOptions {
  readonly url: Redacted.Redacted<string>
  readonly poolSize: number
  readonly statementTimeoutMs: number
  readonly applicationName: string
  /**
   * `app` (default): act as `threadline_app` from the first statement and refuse a login that could escape the
   * policies (superuser, BYPASSRLS, or able to act as a table owner). `owner`: the login as it is.
   */
  readonly login?: "app" | "owner"
}

/** The app login turned out privileged: row-level security would not apply to it. */
export class UnsafeLoginError extends Error {}

/**
 * What makes a login unfit to serve tenants: superuser or BYPASSRLS (RLS never applies), or membership in the owner
 * of a table (it owns it, or may SET ROLE to its owner and alter or disable the policies).
 */
const PRIVILEGES = `SELECT r.rolname AS login, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
  EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%' AND pg_has_role(session_user, c.relowner, 'MEMBER')) AS owner
  FROM pg_roles r WHERE r.rolname = session_user`

const checkAppLogin = async (pool: pg.Pool): Promise<void> => {
  const { rows } = await pool.query<{ login: string; superuser: boolean; bypassrls: boolean; owner: boolean }>(
    PRIVILEGES
  )
  const row = rows[0]
  const reasons = [
    row?.superuser === true ? "is a superuser" : undefined,
    row?.bypassrls === true ? "has BYPASSRLS" : undefined,
    row?.owner === true ? "owns tables (or may act as their owner)" : undefined
  ].filter((r) => r !== undefined)
  if (row === undefined || reasons.length === 0) return
  throw new UnsafeLoginError(
    `DATABASE_URL logs in as "${row.login}", which ${reasons.join(" and ")}, so row-level security would not ` +
      `apply to the application. Set DATABASE_URL to the app login ${APP_ROLE} and DATABASE_OWNER_URL to the ` +
      `owner (see README.md, Configuration).`
  )
}

const acquirePool = (options: ClientOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const app = options.login !== "owner"
        const timeout = `-c statement_timeout=${Math.max(0, Math.trunc(options.statementTimeoutMs))}`
        const pool = new pg.Pool({
          connectionString: Redacted.value(options.url),
          max: options.poolSize,
          application_name: options.applicationName,
          // Startup options apply before the first statement; `role` also covers a login that is a NOINHERIT
          // member of threadline_app rather than the role itself.
          options: app ? `-c role=${APP_ROLE} ${timeout}` : timeout
        })
        // An idle client's error (server restart) must not crash the process; the pool replaces the client.
        pool.on("error", () => {})
        try {
          await pool.query("SELECT 1")
          if (app) await checkAppLogin(pool)
        } catch (cause) {
          await pool.end()
          throw cause
        }
        return pool
      },
      catch: (cause) =>
        new SqlError({
          cause,
          message: cause instanceof UnsafeLoginError ? cause.message : "PgClient: failed to connect"
        })
    }),
    (pool) => Effect.promise(() => pool.end())
  )

/** The owner client of each app client that has one: what `Tenant.bypass` opens its transaction on. */
const owners = new WeakMap<SqlClient.SqlClient, SqlClient.SqlClient>()

/** The owner client registered for `sql` (by `withOwner`), if any. */
export const ownerOf = (sql: SqlClient.SqlClient): Option.Option<SqlClient.SqlClient> =>
  Option.fromNullable(owners.get(sql))

/**
 * `app` with the owner client `owner` registered for it (`ownerOf`): the bypass then runs on the owner's own small
 * pool while every other statement stays on the app login. The owner pool lives as long as the app layer.
 */
export const withOwner = <E1, E2>(
  app: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E1>,
  owner: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E2>
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E1 | E2> =>
  Layer.unwrapScoped(
    Effect.map(Layer.build(owner), (ownerContext) =>
      Layer.tap(app, (context) =>
        Effect.sync(() =>
          owners.set(Context.get(context, SqlClient.SqlClient), Context.get(ownerContext, SqlClient.SqlClient))
        )
      )
    )
  )

/**
 * A client (and its pool) acting as the app role (or the owner: `login`), with the sqlcommenter transformer
 * installed and transaction control statements commented as well (Transaction.ts).
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

/** DATABASE_URL (the app login), or the development server's app login when it is unset. */
export const primaryUrl = (config: AppConfig): Redacted.Redacted<string> =>
  Option.getOrElse(config.databaseUrl, () => Redacted.make(DEV_APP_DATABASE_URL))

/**
 * DATABASE_OWNER_URL; else DATABASE_URL (an older single-URL deployment: it can still migrate, and serving on it is
 * refused with a message, as it owns the tables); else the development server's superuser.
 */
export const ownerUrl = (config: AppConfig): Redacted.Redacted<string> =>
  Option.getOrElse(
    Option.orElse(config.databaseOwnerUrl, () => config.databaseUrl),
    () => Redacted.make(DEV_DATABASE_URL)
  )

/**
 * The primary pool as the app login, with the owner pool for the bypass; applies pending migrations first (as the
 * owner) when THREADLINE_MIGRATE_ON_START is true.
 */
export const SqlLive: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, ConfigError | SqlError, AppConfig> =
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* AppConfig
      if (config.migrateOnStart) {
        // A failed migration leaves the schema unknown: the process must not serve on it.
        yield* Migrate.runUrl(ownerUrl(config)).pipe(Effect.catchTag("MigrationError", (e) => Effect.die(e)))
      }
      const common = { statementTimeoutMs: config.statementTimeoutMs } as const
      return withOwner(
        clientLayer({
          ...common,
          url: primaryUrl(config),
          poolSize: config.databasePoolSize,
          applicationName: "threadline"
        }),
        clientLayer({
          ...common,
          url: ownerUrl(config),
          poolSize: config.databaseOwnerPoolSize,
          applicationName: "threadline-owner",
          login: "owner"
        })
      )
    })
  )

/**
 * The client the query path reads with: always a pool of its own (DATABASE_READ_URL, a replica, or else the primary
 * server), sized by DATABASE_READ_POOL_SIZE, so long searches cannot take the connections writes need.
 */
export class ReadSql extends Context.Tag("Sql/ReadSql")<ReadSql, SqlClient.SqlClient>() {
  /** Uses the primary client as the read client (tests that need one pool). */
  static readonly fromPrimary: Layer.Layer<ReadSql, never, SqlClient.SqlClient> = Layer.effect(
    ReadSql,
    SqlClient.SqlClient
  )
}

export const ReadSqlLive: Layer.Layer<ReadSql, ConfigError | SqlError, AppConfig> = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Layer.effect(ReadSql, SqlClient.SqlClient).pipe(
      Layer.provide(
        clientLayer({
          url: Option.getOrElse(config.databaseReadUrl, () => primaryUrl(config)),
          poolSize: config.databaseReadPoolSize,
          statementTimeoutMs: config.statementTimeoutMs,
          applicationName: "threadline-read"
        })
      )
    )
  )
)

/** Both clients, each with its own pool (the read pool after the migrations): what storage needs. */
export const StorageLive: Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient | ReadSql,
  ConfigError | SqlError,
  AppConfig
> = ReadSqlLive.pipe(Layer.provideMerge(SqlLive))
