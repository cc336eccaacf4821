/**
 * The storage layers as a process builds them (StorageLive from the environment): the read client is a pool of its
 * own even without DATABASE_READ_URL, sized by DATABASE_READ_POOL_SIZE, so searches holding every read connection
 * do not delay writes; the bypass runs on the owner pool.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer } from "effect"
import { AppConfig } from "../../src/Config.js"
import { RequestContext } from "../../src/RequestContext.js"
import { ReadSql, StorageLive } from "../../src/Sql/Client.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { TestDatabase, TestDatabaseInfo } from "../support/Database.js"

const ctx = RequestContext.system("read-pool-test")

/** StorageLive on the test database with one connection per pool. */
const storage = Layer.unwrapEffect(
  Effect.map(TestDatabaseInfo, (info) =>
    StorageLive.pipe(
      Layer.provide(AppConfig.Default),
      Layer.provide(
        Layer.setConfigProvider(
          ConfigProvider.fromMap(
            new Map([
              ["THREADLINE_ENV", "test"],
              ["DATABASE_URL", info.appUrl],
              ["DATABASE_OWNER_URL", info.ownerUrl],
              ["DATABASE_POOL_SIZE", "1"],
              ["DATABASE_READ_POOL_SIZE", "1"],
              ["THREADLINE_MIGRATE_ON_START", "false"]
            ])
          )
        )
      ),
      Layer.orDie
    )
  )
)

const activity = (app: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ user: string; n: number }>`SELECT usename AS user, count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = ${app} GROUP BY usename`
  )

layer(TestDatabase.layer("read-pool"), { timeout: 60_000 })("storage pools", (it) => {
  it.scoped("a search holding the whole read pool does not delay a write on the primary", () =>
    Effect.gen(function* () {
      const env = yield* Layer.build(storage)
      const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | ReadSql | RequestContext>) =>
        effect.pipe(Effect.provide(env), RequestContext.withContext(ctx))
      const read = yield* Effect.fork(run(Tenant.read(Effect.flatMap(ReadSql, (sql) => sql`SELECT pg_sleep(1.5)`))))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
      const started = Date.now()
      yield* run(Tenant.transaction(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`)))
      const writeMs = Date.now() - started
      yield* Fiber.join(read)
      expect(writeMs).toBeLessThan(700)
    })
  )

  it.scoped("each pool logs in as its own login: primary and read as threadline_app, the owner pool as the owner", () =>
    Effect.gen(function* () {
      const env = yield* Layer.build(storage)
      // touch every pool once
      yield* Effect.flatMap(ReadSql, (sql) => sql`SELECT 1`).pipe(Effect.provide(env))
      yield* Tenant.bypass("read-pool-test", Effect.void).pipe(Effect.provide(env), RequestContext.withContext(ctx))
      const owner = new URL((yield* TestDatabaseInfo).ownerUrl).username
      expect(yield* activity("threadline")).toEqual([{ user: "threadline_app", n: 1 }])
      expect(yield* activity("threadline-read")).toEqual([{ user: "threadline_app", n: 1 }])
      expect(yield* activity("threadline-owner")).toEqual([{ user: owner, n: 1 }])
    })
  )
})
