/**
 * A bravo context can neither read, update nor delete alpha's rows through any repository function or any tenant
 * table, under four walls: both (application filter + RLS), RLS alone (filter removed), the application filter
 * alone (RLS disabled on every tenant table) and — the control that proves each probe can detect a leak — neither,
 * where every probe MUST leak. Each probe runs in a transaction that is rolled back, and alpha's rows are
 * fingerprinted inside that same transaction before and after the probe. Everything runs as the app login.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Data, Effect, Layer, Option } from "effect"
import { AuditLog } from "../../src/Audit/AuditLog.js"
import { RequestContext, type RequestContextData } from "../../src/RequestContext.js"
import { ApiKeysRepo } from "../../src/Sql/ApiKeysRepo.js"
import { MembersRepo } from "../../src/Sql/MembersRepo.js"
import { OrganizationsRepo } from "../../src/Sql/OrganizationsRepo.js"
import { ProjectsRepo } from "../../src/Sql/ProjectsRepo.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { asOwner, TestDatabase } from "../support/Database.js"
import { alpha, bravo, ReposLive, seedTenant, TENANT_TABLES } from "./Fixtures.js"

type Probe = {
  readonly name: string
  readonly run: Effect.Effect<unknown, unknown, SqlClient.SqlClient | RequestContext | Services>
  /** How a result reveals alpha's data; by default: it mentions "alpha". */
  readonly leaks?: (result: unknown) => boolean
  readonly ctx?: RequestContextData
}
type Services = OrganizationsRepo | MembersRepo | ProjectsRepo | ApiKeysRepo | AuditLog

const mentionsAlpha = (result: unknown) => JSON.stringify(result).includes("alpha")

const FIRST_PAGE = { after: undefined, limit: 101 } as const

const repoProbes: ReadonlyArray<Probe> = [
  {
    name: "OrganizationsRepo.current",
    run: Effect.flatMap(OrganizationsRepo, (r) => r.current),
    leaks: (r) =>
      Option.isSome(r as Option.Option<{ id: string }>) && (r as Option.Some<{ id: string }>).value.id !== bravo.org
  },
  { name: "OrganizationsRepo.update", run: Effect.flatMap(OrganizationsRepo, (r) => r.update({ name: "pwned" })) },
  { name: "OrganizationsRepo.remove", run: Effect.flatMap(OrganizationsRepo, (r) => r.remove) },
  { name: "MembersRepo.listPage", run: Effect.flatMap(MembersRepo, (r) => r.listPage(FIRST_PAGE)) },
  { name: "MembersRepo.find", run: Effect.flatMap(MembersRepo, (r) => r.find(alpha.user)) },
  { name: "MembersRepo.setRole", run: Effect.flatMap(MembersRepo, (r) => r.setRole(alpha.user, "member")) },
  { name: "MembersRepo.remove", run: Effect.flatMap(MembersRepo, (r) => r.remove(alpha.user)) },
  { name: "MembersRepo.countOwners", run: Effect.flatMap(MembersRepo, (r) => r.countOwners), leaks: (n) => n !== 1 },
  { name: "ProjectsRepo.listPage", run: Effect.flatMap(ProjectsRepo, (r) => r.listPage(FIRST_PAGE)) },
  { name: "ProjectsRepo.find", run: Effect.flatMap(ProjectsRepo, (r) => r.find(alpha.project)) },
  { name: "ProjectsRepo.rename", run: Effect.flatMap(ProjectsRepo, (r) => r.rename(alpha.project, "pwned")) },
  { name: "ProjectsRepo.remove", run: Effect.flatMap(ProjectsRepo, (r) => r.remove(alpha.project)) },
  { name: "ProjectsRepo.count", run: Effect.flatMap(ProjectsRepo, (r) => r.count), leaks: (n) => n !== 1 },
  { name: "ApiKeysRepo.list", run: Effect.flatMap(ApiKeysRepo, (r) => r.list()) },
  { name: "ApiKeysRepo.list(project)", run: Effect.flatMap(ApiKeysRepo, (r) => r.list(alpha.project)) },
  { name: "ApiKeysRepo.listPage", run: Effect.flatMap(ApiKeysRepo, (r) => r.listPage(alpha.project, FIRST_PAGE)) },
  { name: "ApiKeysRepo.revoke", run: Effect.flatMap(ApiKeysRepo, (r) => r.revoke(alpha.key)) },
  {
    name: "ApiKeysRepo.touch",
    run: Effect.flatMap(ApiKeysRepo, (r) => r.touch),
    // a bravo-organization context claiming alpha's key
    ctx: { ...bravo.keyCtx, apiKeyId: alpha.key, actor: { _tag: "apiKey", apiKeyId: alpha.key } }
  },
  { name: "ApiKeysRepo.countActive", run: Effect.flatMap(ApiKeysRepo, (r) => r.countActive), leaks: (n) => n !== 1 },
  { name: "AuditLog.list", run: Effect.flatMap(AuditLog, (r) => r.list({})) },
  { name: "AuditLog.list(action)", run: Effect.flatMap(AuditLog, (r) => r.list({ action: "org_alpha.secret" })) }
]

/** Every tenant table, read, updated and deleted directly with the application's filter. */
const tableProbes: ReadonlyArray<Probe> = TENANT_TABLES.flatMap((table): ReadonlyArray<Probe> => {
  const column = table === "organizations" ? "id" : "organization_id"
  const filtered = <A>(
    f: (sql: SqlClient.SqlClient, where: unknown) => Effect.Effect<A, unknown>
  ): Effect.Effect<A, unknown, SqlClient.SqlClient | RequestContext> =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const where = yield* Tenant.orgFilter(sql, column)
      return yield* f(sql, where)
    })
  const probes: Array<Probe> = [
    { name: `${table}: select`, run: filtered((sql, w) => sql`SELECT * FROM ${sql(table)} WHERE ${w as never}`) }
  ]
  // logs, audit_log and webhook_attempts are append-only for the app role: no UPDATE/DELETE grant to probe
  if (!["logs", "audit_log", "webhook_attempts"].includes(table)) {
    probes.push(
      {
        name: `${table}: update`,
        run: filtered(
          (sql, w) => sql`UPDATE ${sql(table)} SET ${sql(column)} = ${sql(column)} WHERE ${w as never} RETURNING *`
        )
      },
      ...(table === "usage_counters"
        ? []
        : [
            {
              name: `${table}: delete`,
              run: filtered((sql, w) => sql`DELETE FROM ${sql(table)} WHERE ${w as never} RETURNING *`)
            }
          ])
    )
  }
  return probes
})

class Rollback extends Data.TaggedError("Rollback")<{ readonly leaked: boolean }> {}

/**
 * alpha's rows in every tenant table, read inside the probe's own transaction with the application's login: the
 * tenant setting is switched to alpha for the read and then back to the probe's own.
 */
const fingerprint = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [was] = yield* sql<{ org: string }>`SELECT current_setting('threadline.organization_id') AS org`
  yield* sql`SELECT set_config('threadline.organization_id', ${alpha.org}, true)`
  const parts = TENANT_TABLES.map((t) => {
    const col = t === "organizations" ? "id" : "organization_id"
    return `(SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text)::text, '') FROM ${t} x WHERE ${col} = '${alpha.org}')`
  })
  const rows = yield* sql<{ f: string }>`SELECT concat_ws('|', ${sql.literal(parts.join(", "))}) AS f`
  yield* sql`SELECT set_config('threadline.organization_id', ${was?.org ?? ""}, true)`
  return rows[0]?.f ?? ""
})

const runProbe = (probe: Probe, withFilter: boolean) =>
  Tenant.transaction(
    Effect.gen(function* () {
      const before = yield* fingerprint
      const result = yield* Effect.orDie(withFilter ? probe.run : Tenant.withoutAppFilter(probe.run))
      const after = yield* fingerprint
      expect(before).toContain("alpha")
      return yield* new Rollback({ leaked: (probe.leaks ?? mentionsAlpha)(result) || before !== after })
    })
  ).pipe(
    Effect.catchTag("Rollback", (r) => Effect.succeed(r.leaked)),
    RequestContext.withContext(probe.ctx ?? bravo.userCtx)
  )

const setRls = (enabled: boolean) =>
  asOwner((c) =>
    c.query(TENANT_TABLES.map((t) => `ALTER TABLE ${t} ${enabled ? "ENABLE" : "DISABLE"} ROW LEVEL SECURITY;`).join(""))
  )

const probes = [...repoProbes, ...tableProbes]
const Env = ReposLive.pipe(Layer.provideMerge(TestDatabase.layer("cross-tenant")))

layer(Env, { timeout: 120_000 })("cross-tenant isolation", (it) => {
  it.effect("seeds alpha and bravo", () =>
    Effect.gen(function* () {
      yield* seedTenant(alpha)
      yield* seedTenant(bravo)
    })
  )

  const walls = [
    { wall: "application filter + RLS", rls: true, filter: true, mustLeak: false },
    { wall: "RLS alone (application filter removed)", rls: true, filter: false, mustLeak: false },
    { wall: "application filter alone (RLS disabled)", rls: false, filter: true, mustLeak: false },
    { wall: "neither (control: every probe must detect the leak)", rls: false, filter: false, mustLeak: true }
  ] as const

  for (const w of walls) {
    describe(w.wall, () => {
      it.effect(`${probes.length} probes`, () =>
        Effect.gen(function* () {
          yield* setRls(w.rls)
          const outcomes: Record<string, boolean> = {}
          for (const probe of probes) outcomes[probe.name] = yield* runProbe(probe, w.filter)
          yield* setRls(true)
          expect(outcomes).toEqual(Object.fromEntries(probes.map((p) => [p.name, w.mustLeak])))
        })
      )
    })
  }

  it.effect("alpha's rows are intact after all probes", () =>
    Effect.gen(function* () {
      const projects = yield* Effect.flatMap(ProjectsRepo, (r) => r.listPage(FIRST_PAGE)).pipe(
        RequestContext.withContext(alpha.userCtx)
      )
      expect(projects.map((p) => [p.id, p.name])).toEqual([[alpha.project, "Project prj_alpha"]])
    })
  )
})
