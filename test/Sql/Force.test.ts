/**
 * Row-level security is enforced, not only enabled: the application's own login (what the test clients connect
 * with, as in production) is unprivileged and cannot leave the policies; FORCE holds even for a table owner that is
 * not a superuser; and a privileged login is refused as DATABASE_URL.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import pg from "pg"
import { clientLayer } from "../../src/Sql/Client.js"
import { asOwner, TestDatabaseInfo, TestDatabase } from "../support/Database.js"

const errorCode = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? JSON.stringify(Cause.squash(exit.cause), ["cause", "code"]) : "success"

const seed = asOwner((c) =>
  c.query(`INSERT INTO organizations (id, slug, name) VALUES ('org_fa', 'fa', 'A'), ('org_fb', 'fb', 'B');
    INSERT INTO projects (id, organization_id, name) VALUES ('prj_fa', 'org_fa', 'a'), ('prj_fb', 'org_fb', 'b')`)
)

/** A fresh non-superuser login (no BYPASSRLS) with a password, dropped when the scope closes. */
const probeLogin = Effect.acquireRelease(
  Effect.gen(function* () {
    const info = yield* TestDatabaseInfo
    const name = `tl_probe_${randomBytes(4).toString("hex")}`
    const password = randomBytes(12).toString("hex")
    yield* asOwner((c) => c.query(`CREATE ROLE ${name} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '${password}'`))
    const url = new URL(info.ownerUrl)
    url.username = name
    url.password = password
    return { name, url: url.toString() }
  }),
  ({ name }) =>
    asOwner((c) => c.query(`REASSIGN OWNED BY ${name} TO CURRENT_USER; DROP OWNED BY ${name}; DROP ROLE ${name}`)).pipe(
      Effect.orDie
    )
)

const buildClient = (url: string) =>
  Effect.scoped(
    Layer.build(
      clientLayer({ url: Redacted.make(url), poolSize: 1, statementTimeoutMs: 10_000, applicationName: "probe" })
    )
  ).pipe(Effect.exit)

layer(TestDatabase.layer("force"), { timeout: 60_000 })("row-level security enforced", (it) => {
  it.effect(
    "the app login is itself threadline_app: no superuser, no BYPASSRLS, NOINHERIT, member of nothing, owns nothing",
    () =>
      Effect.gen(function* () {
        yield* seed
        const sql = yield* SqlClient.SqlClient
        const [login] = yield* sql<Record<string, unknown>>`SELECT r.rolname AS name, r.rolsuper AS superuser,
          r.rolbypassrls AS bypassrls, r.rolinherit AS inherit, r.rolcanlogin AS login,
          (SELECT count(*)::int FROM pg_auth_members m WHERE m.member = r.oid) AS memberships,
          (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) AS owned
        FROM pg_roles r WHERE r.rolname = session_user`
        expect(login).toEqual({
          name: "threadline_app",
          superuser: false,
          bypassrls: false,
          inherit: false,
          login: true,
          memberships: 0,
          owned: 0
        })
      })
  )

  it.effect("every table with row-level security has it forced", () =>
    Effect.gen(function* () {
      const tables = yield* asOwner((c) =>
        c.query<{ name: string; forced: boolean }>(
          `SELECT c.relname AS name, c.relforcerowsecurity AS forced FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relrowsecurity`
        )
      )
      expect(tables.rows.map((t) => t.name)).toEqual(expect.arrayContaining(["organizations", "projects", "logs"]))
      expect(tables.rows.filter((t) => !t.forced)).toEqual([])
    })
  )

  it.effect("without the tenant setting the app login sees nothing, even after RESET ROLE", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`SELECT id FROM projects`).toEqual([])
      // The old bypass trick: on a connection that logged in as the owner, dropping the role switch saw everything.
      const rows = yield* sql.withTransaction(
        Effect.zipRight(sql`SET LOCAL ROLE NONE`, sql<{ n: number }>`SELECT count(*)::int AS n FROM organizations`)
      )
      expect(rows).toEqual([{ n: 0 }])
    })
  )

  it.effect("the app login can neither SET ROLE to the owner nor disable, drop or alter the policies", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const owner = new URL((yield* TestDatabaseInfo).ownerUrl).username
      const attempts = [
        sql`SET ROLE ${sql(owner)}`,
        sql`ALTER TABLE projects DISABLE ROW LEVEL SECURITY`,
        sql`ALTER TABLE projects NO FORCE ROW LEVEL SECURITY`,
        sql`DROP POLICY projects_tenant ON projects`,
        sql`ALTER TABLE projects OWNER TO threadline_app`
      ]
      for (const attempt of attempts) {
        expect(errorCode(yield* Effect.exit(attempt))).toContain("42501")
      }
      const forced = yield* asOwner((c) =>
        c.query("SELECT relrowsecurity AND relforcerowsecurity AS on FROM pg_class WHERE relname = 'projects'")
      )
      expect(forced.rows).toEqual([{ on: true }])
    })
  )

  it.scoped("FORCE: a table owner that is not a superuser is subject to the tenant policy too", () =>
    Effect.gen(function* () {
      const probe = yield* probeLogin
      yield* asOwner((c) => c.query(`ALTER TABLE projects OWNER TO ${probe.name}`))
      const seen = yield* Effect.promise(async () => {
        const c = new pg.Client({ connectionString: probe.url })
        await c.connect()
        try {
          const unscoped = (await c.query("SELECT id FROM projects ORDER BY id")).rows
          await c.query("SELECT set_config('threadline.organization_id', 'org_fa', false)")
          const scoped = (await c.query("SELECT id FROM projects ORDER BY id")).rows
          return { unscoped, scoped }
        } finally {
          await c.end()
        }
      })
      yield* asOwner((c) => c.query("ALTER TABLE projects OWNER TO CURRENT_USER"))
      expect(seen).toEqual({ unscoped: [], scoped: [{ id: "prj_fa" }] })
    })
  )

  it.scoped("a privileged DATABASE_URL is refused: a superuser, or a login that owns a table", () =>
    Effect.gen(function* () {
      const info = yield* TestDatabaseInfo
      const message = (exit: Exit.Exit<unknown, unknown>) =>
        Exit.isFailure(exit) ? String((Cause.squash(exit.cause) as Error).message) : "accepted"
      expect(message(yield* buildClient(info.ownerUrl))).toMatch(
        /is a superuser.*row-level security would not apply.*DATABASE_OWNER_URL/
      )
      // a login that may act as threadline_app is accepted while it owns nothing, refused once it owns a table
      const probe = yield* probeLogin
      yield* asOwner((c) => c.query(`GRANT threadline_app TO ${probe.name}`))
      expect(message(yield* buildClient(probe.url))).toBe("accepted")
      yield* asOwner((c) => c.query(`CREATE TABLE probe_owned (v int); ALTER TABLE probe_owned OWNER TO ${probe.name}`))
      expect(message(yield* buildClient(probe.url))).toMatch(/owns tables/)
      yield* asOwner((c) => c.query("DROP TABLE probe_owned"))
      expect(message(yield* buildClient(info.appUrl))).toBe("accepted")
    })
  )
})
