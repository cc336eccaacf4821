/**
 * `threadline serve --roles api,worker,scheduler`, `threadline migrate` and `threadline admin grant|revoke <email>`.
 * Composes the layers of the requested roles once, at the edge; SIGTERM/SIGINT interrupt the main fiber, which
 * closes every scoped resource in reverse order of acquisition (HTTP server first, then workers, then pools).
 */
import { Args, Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Config, Console, Effect, Either, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { AlertsLive } from "./Alerts/AlertsLive.js"
import { AdminDatabaseConfig, AppConfig } from "./Config.js"
import { Retention } from "./Logs/Retention.js"
import { HttpServerLive } from "./Http/Server.js"
import { JsonLoggerLive } from "./Logging.js"
import { Envelope } from "./Queue/Envelope.js"
import { SchedulerLive, WorkersLive } from "./Queue/Jobs.js"
import { Producer } from "./Queue/Producer.js"
import { QueueRedis } from "./Queue/Redis.js"
import { clientLayer, DEV_APP_DATABASE_URL, ownerUrl, StorageLive } from "./Sql/Client.js"
import { Migrate, MIGRATIONS_TABLE } from "./Sql/Migrate.js"
import { InvitationsRepo } from "./Sql/InvitationsRepo.js"
import { UsersRepo } from "./Sql/UsersRepo.js"
import { RequestContext } from "./RequestContext.js"
import { TenancyLive } from "./Tenancy/TenancyLive.js"
import { AuditLog } from "./Audit/AuditLog.js"
import { LimitsLive } from "./Limits/LimitsLive.js"

export const ROLES = ["api", "worker", "scheduler"] as const
export type Role = (typeof ROLES)[number]

const parseRoles = (value: string): Effect.Effect<ReadonlyArray<Role>, Error> => {
  const requested = value
    .split(",")
    .map((r) => r.trim())
    .filter((r) => r.length > 0)
  const unknown = requested.filter((r) => !(ROLES as ReadonlyArray<string>).includes(r))
  if (requested.length === 0 || unknown.length > 0) {
    return Effect.fail(new Error(`--roles takes a comma-separated subset of ${ROLES.join(",")}; got "${value}"`))
  }
  return Effect.succeed([...new Set(requested)] as ReadonlyArray<Role>)
}

/**
 * Infrastructure shared by the roles of one process. Layers are memoised by reference within one build, so roles
 * that need the same service share one instance; it is released only after every role built on it has closed.
 */
const QueueLive = Layer.mergeAll(QueueRedis.Default, Envelope.Default, Producer.Default)

/**
 * The Postgres pools (primary + read), migrating first when THREADLINE_MIGRATE_ON_START. A process that cannot
 * reach its database or migrate it must not serve, so failures are defects that end the start-up.
 */
const StorageInfra = StorageLive.pipe(Layer.orDie)

/**
 * Rate limits, quotas and usage metering (src/Limits): the HTTP rate-limit step, the logs quota, creation limits,
 * the alert-evaluation gate, job attribution and the usage flush. One instance per process, shared by its roles.
 */
const LimitsProcess = LimitsLive.pipe(Layer.provide(AuditLog.Default), Layer.orDie)

const roleLayer = (role: Role): Layer.Layer<never, never, AppConfig> => {
  switch (role) {
    case "api":
      return HttpServerLive.pipe(
        Layer.provide(
          Layer.merge(TenancyLive, LimitsProcess).pipe(Layer.provideMerge(Layer.merge(StorageInfra, QueueLive)))
        )
      )
    case "worker":
      return WorkersLive.pipe(
        Layer.provide(Layer.mergeAll(AlertsLive, Retention.Default, InvitationsRepo.Default)),
        Layer.provide(LimitsProcess),
        Layer.provide(Layer.merge(StorageInfra, QueueLive)),
        Layer.orDie
      )
    case "scheduler":
      return SchedulerLive.pipe(Layer.provide(QueueLive))
  }
}

const roles = Options.text("roles").pipe(
  Options.withDefault(ROLES.join(",")),
  Options.withDescription("comma-separated roles to run in this process: api, worker, scheduler")
)

const serve = Command.make("serve", { roles }, ({ roles }) =>
  Effect.gen(function* () {
    const selected = yield* parseRoles(roles)
    yield* Effect.logInfo("threadline starting", { roles: selected })
    const layer = selected.map(roleLayer).reduce((acc, next) => Layer.merge(acc, next))
    return yield* Effect.scoped(
      Effect.gen(function* () {
        yield* Layer.build(layer)
        yield* Effect.logInfo("threadline ready", { roles: selected })
        yield* Effect.addFinalizer(() => Effect.logInfo("threadline shutting down", { roles: selected }))
        return yield* Effect.never
      })
    )
  }).pipe(Effect.provide(AppConfig.Default))
).pipe(Command.withDescription("run the API server, job workers and/or the scheduler"))

/** Applies pending migrations as the owner (DATABASE_OWNER_URL, else DATABASE_URL); safe while others start. */
const migrate = Command.make("migrate", {}, () =>
  Effect.flatMap(AppConfig, (config) => Migrate.runUrl(ownerUrl(config))).pipe(Effect.provide(AppConfig.Default))
).pipe(Command.withDescription("apply database migrations and exit"))

/**
 * `admin grant|revoke <email>`: the platform-administrator flag (who may change an organization's limits), set
 * only by the operator; audited as system work (`admin.grant` / `admin.revoke`, under `org_system`) in the same
 * transaction. An unknown email changes nothing and exits 1. It needs only DATABASE_URL (the app login or the
 * owner): no secret key, no migration (a schema that is behind is reported: run `threadline migrate` first).
 */
const adminCommand = (verb: "grant" | "revoke") =>
  Command.make(verb, { email: Args.text({ name: "email" }) }, ({ email }) =>
    Effect.gen(function* () {
      if (!(yield* schemaIsCurrent)) {
        yield* Console.error(
          `threadline admin ${verb}: the database schema is behind this version; run \`threadline migrate\` first`
        )
        process.exitCode = 1
        return
      }
      const users = yield* UsersRepo
      const action = `admin.${verb}`
      const outcome = yield* (yield* AuditLog)
        .audited(
          Effect.flatMap(users.setPlatformAdmin(email, verb === "grant"), (before) =>
            Option.isSome(before) ? Effect.succeed(before.value) : Effect.fail("unknown email" as const)
          ),
          (before) => ({
            action,
            target: { type: "user", id: before.id },
            changes: { email: before.email, isPlatformAdmin: { from: before.isPlatformAdmin, to: verb === "grant" } }
          })
        )
        .pipe(Effect.either, RequestContext.withContext(RequestContext.system(action)))
      if (Either.isLeft(outcome)) {
        yield* Console.error(`threadline admin ${verb}: no user with email ${JSON.stringify(email)}; nothing changed`)
        process.exitCode = 1
        return
      }
      yield* Console.log(
        `threadline admin ${verb}: ${outcome.right.email} (${outcome.right.id}) is ${
          verb === "grant" ? "now" : "no longer"
        } a platform administrator`
      )
    }).pipe(
      Effect.provide(Layer.mergeAll(UsersRepo.Default, AuditLog.Default).pipe(Layer.provideMerge(AdminSql))),
      Effect.catchTag("SqlError", (e) =>
        Console.error(`threadline admin ${verb}: database error: ${e.message}`).pipe(
          Effect.andThen(Effect.sync(() => void (process.exitCode = 1)))
        )
      )
    )
  ).pipe(Command.withDescription(`${verb} the platform-administrator flag of the user with this email`))

/**
 * Whether the database has every migration this build knows (read from its migrations table, else from the column
 * the command writes when the login may not read that table).
 */
const schemaIsCurrent = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const files = yield* Migrate.files.pipe(Effect.orDie)
  const latest = Math.max(0, ...files.map((f) => Number.parseInt(f.slice(0, 4), 10)))
  const [row] = yield* sql<{ column: boolean; readable: boolean }>`SELECT
    EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
      AND table_name = 'users' AND column_name = 'is_platform_admin') AS column,
    COALESCE(has_table_privilege(to_regclass(${MIGRATIONS_TABLE}), 'SELECT'), false) AS readable`
  if (row === undefined || !row.column) return false
  if (!row.readable) return true
  const [applied] = yield* sql<{ latest: number | null }>`SELECT max(migration_id) AS latest FROM ${sql(
    MIGRATIONS_TABLE
  )}`
  return (applied?.latest ?? 0) >= latest
})

/** One connection to DATABASE_URL as its login (the app login or the owner), read without the rest of AppConfig. */
const AdminSql = Layer.unwrapEffect(
  Effect.map(Effect.orDie(AdminDatabaseConfig), (config) =>
    clientLayer({
      url: Option.getOrElse(config.databaseUrl, () => Redacted.make(DEV_APP_DATABASE_URL)),
      poolSize: 1,
      statementTimeoutMs: config.statementTimeoutMs,
      applicationName: "threadline-admin",
      login: "owner"
    })
  )
)

const admin = Command.make("admin").pipe(
  Command.withSubcommands([adminCommand("grant"), adminCommand("revoke")]),
  Command.withDescription("platform administrators: admin grant <email>, admin revoke <email>")
)

const cli = Command.make("threadline").pipe(Command.withSubcommands([serve, migrate, admin]))

const run = Command.run(cli, { name: "threadline", version: "0.1.0" })

// LOG_LEVEL alone: the full AppConfig (and its production key check) is built only by the commands that need it
const LogLevelLive = Layer.unwrapEffect(
  Effect.map(Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info)), Logger.minimumLogLevel)
).pipe(Layer.orDie)

const MainLive = Layer.mergeAll(NodeContext.layer, JsonLoggerLive, LogLevelLive)

run(process.argv).pipe(Effect.provide(MainLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
