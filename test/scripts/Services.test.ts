/**
 * scripts/services.ts against the real binaries: with no DATABASE_URL / REDIS_URL it starts a Postgres we can query
 * and a Redis that answers, reuses what is already running on a persistent data directory, keeps persistent data
 * across restarts, and leaves nothing behind (processes, ports, throwaway files) once its scope closes.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Scope } from "effect"
import { Redis } from "ioredis"
import { chmod, mkdtemp, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { acquireServices, type ServicesOptions } from "../../scripts/services.js"
import { portOpen } from "../../scripts/support/Network.js"

const lines: Array<string> = []
const log = (line: string) => lines.push(line)

/** Only PATH from the real environment: the test runner's own DATABASE_URL / REDIS_URL must not leak in. */
const bareEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH })

const options = (overrides: Partial<ServicesOptions>): ServicesOptions => ({
  mode: "throwaway",
  dataDir: "unused",
  env: bareEnv(),
  log,
  ...overrides
})

const sqlOn = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, f).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.orDie)

const redisOn = <A>(url: string, f: (redis: Redis) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false })),
    (redis) => Effect.promise(() => f(redis)),
    (redis) => Effect.promise(() => redis.quit().catch(() => "closed"))
  )

const portOf = (url: string): number => Number(new URL(url).port)

const exists = (path: string) =>
  Effect.promise(() =>
    stat(path).then(
      () => true,
      () => false
    )
  )

/** A scope closed by the test, or by the test's own scope if an assertion fails first (closing twice is a no-op). */
const childScope = Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))

/** A persistent data directory the postgres user can enter (mkdtemp makes it 700). */
const persistentDir = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await mkdtemp(join(tmpdir(), "threadline-services-test-"))
    await chmod(dir, 0o755)
    return dir
  }),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

describe("scripts/services.ts", () => {
  it.scopedLive(
    "throwaway: a real Postgres (app login + superuser owner) and Redis without DATABASE_URL / REDIS_URL; nothing left after stop",
    () =>
      Effect.gen(function* () {
        const scope = yield* childScope
        const services = yield* acquireServices(options({})).pipe(Scope.extend(scope))
        expect(services.postgres.origin).toBe("started")
        expect(services.redis.origin).toBe("started")
        expect(services.env.DATABASE_URL).toMatch(
          /^postgres:\/\/threadline_app:threadline_app@127\.0\.0\.1:\d+\/postgres$/
        )
        expect(services.env.DATABASE_OWNER_URL).toMatch(/^postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres$/)
        // the app login exists, can log in, and is neither a superuser nor able to inherit privileges
        const app = yield* sqlOn(
          services.env.DATABASE_URL,
          (sql) =>
            sql<{ login: string; superuser: boolean; inherit: boolean }>`
            SELECT rolname AS login, rolsuper AS superuser, rolinherit AS inherit FROM pg_roles
            WHERE rolname = current_user`
        )
        expect(app).toEqual([{ login: "threadline_app", superuser: false, inherit: false }])

        const row = yield* sqlOn(
          services.env.DATABASE_OWNER_URL ?? "",
          (sql) =>
            sql<{ version: number; superuser: boolean }>`
            SELECT current_setting('server_version_num')::int AS version, rolsuper AS superuser
            FROM pg_roles WHERE rolname = current_user`
        )
        expect(row[0]?.version).toBeGreaterThanOrEqual(180_000)
        expect(row[0]?.superuser).toBe(true)
        const redis = yield* redisOn(services.env.REDIS_URL, async (r) => [
          await r.ping(),
          await r.set("k", "v"),
          await r.get("k")
        ])
        expect(redis).toEqual(["PONG", "OK", "v"])

        const pgDir = services.dirs.postgres ?? ""
        // The throwaway root and both data directories in it.
        const dirs = [dirname(pgDir), pgDir, services.dirs.redis ?? ""]
        for (const dir of dirs) expect(yield* exists(dir)).toBe(true)
        yield* Scope.close(scope, Exit.void)
        expect(yield* portOpen(portOf(services.env.DATABASE_URL))).toBe(false)
        expect(yield* portOpen(portOf(services.env.REDIS_URL))).toBe(false)
        for (const dir of dirs) expect(yield* exists(dir)).toBe(false)
      }),
    60_000
  )

  it.scopedLive(
    "persistent: a second acquisition reuses the running servers and leaves them up; data survives a restart",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* persistentDir
        const persistent = options({ mode: "persistent", dataDir })

        const first = yield* childScope
        const a = yield* acquireServices(persistent).pipe(Scope.extend(first))
        expect([a.postgres.origin, a.redis.origin]).toEqual(["started", "started"])
        expect(a.dirs.postgres).toBe(join(dataDir, "postgres"))
        yield* sqlOn(
          a.env.DATABASE_OWNER_URL ?? "",
          (sql) => sql`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')`
        )
        yield* redisOn(a.env.REDIS_URL, (r) => r.set("kept", "survives"))

        const second = yield* childScope
        const b = yield* acquireServices(persistent).pipe(Scope.extend(second))
        expect([b.postgres.origin, b.redis.origin]).toEqual(["reused", "reused"])
        expect(b.env).toEqual(a.env)
        yield* Scope.close(second, Exit.void)
        // Closing the reusing scope must not stop servers it did not start.
        expect(yield* sqlOn(a.env.DATABASE_URL, (sql) => sql`SELECT 1 AS one`)).toEqual([{ one: 1 }])
        expect(yield* redisOn(a.env.REDIS_URL, (r) => r.ping())).toBe("PONG")

        yield* Scope.close(first, Exit.void)
        expect(yield* portOpen(portOf(a.env.DATABASE_URL))).toBe(false)
        expect(yield* portOpen(portOf(a.env.REDIS_URL))).toBe(false)

        const third = yield* childScope
        const c = yield* acquireServices(persistent).pipe(Scope.extend(third))
        expect([c.postgres.origin, c.redis.origin]).toEqual(["started", "started"])
        expect(yield* sqlOn(c.env.DATABASE_OWNER_URL ?? "", (sql) => sql`SELECT v FROM kept`)).toEqual([
          { v: "survives" }
        ])
        expect(yield* redisOn(c.env.REDIS_URL, (r) => r.get("kept"))).toBe("survives")
        yield* Scope.close(third, Exit.void)
        expect(yield* portOpen(portOf(c.env.DATABASE_URL))).toBe(false)
      }),
    90_000
  )

  it.scopedLive("DATABASE_URL / REDIS_URL set: used as given, nothing is started", () =>
    Effect.gen(function* () {
      const env = {
        ...bareEnv(),
        DATABASE_URL: "postgres://u:p@db.example:5432/x",
        REDIS_URL: "redis://cache.example:6379"
      }
      const services = yield* acquireServices(options({ env }))
      expect(services.env).toEqual({ DATABASE_URL: env.DATABASE_URL, REDIS_URL: env.REDIS_URL })
      expect([services.postgres.origin, services.redis.origin]).toEqual(["external", "external"])
      expect(services.dirs).toEqual({ postgres: undefined, redis: undefined })
    })
  )

  it.scopedLive("no redis-server and no way to install it: stops with the install command", () =>
    Effect.gen(function* () {
      const env = { PATH: "/nonexistent", DATABASE_URL: "postgres://u:p@db.example:5432/x" }
      const error = yield* Effect.flip(acquireServices(options({ env })))
      expect(error.message).toContain("apt-get install -y redis-server")
      expect(error.message).toContain("REDIS_URL")
    })
  )
})
