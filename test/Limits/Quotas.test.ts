import { SqlClient } from "@effect/sql"
import { afterAll, expect, layer } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { LimitReached, Quotas } from "../../src/Limits/Quotas.js"
import { type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import {
  appConfig,
  captureLogs,
  cleanup,
  configProvider,
  databaseLayer,
  keyContext,
  LimitsServicesLive,
  type Line,
  organizations,
  ownerSql,
  projectOf,
  redisUrl,
  uniquePrefix,
  userContext,
  setLimits
} from "./Support.js"

const prefix = uniquePrefix("quotas")
const env = { REDIS_URL: redisUrl(), THREADLINE_LIMITS_PREFIX: prefix, THREADLINE_RATE_LIMIT_QUERIES_PER_MINUTE: "5" }
const lines: Array<Line> = []
const Live = LimitsServicesLive.pipe(
  Layer.provideMerge(databaseLayer("quotas")),
  Layer.provide(appConfig(env)),
  Layer.provide(configProvider(env)),
  Layer.provide(captureLogs(lines))
)
afterAll(() => cleanup(prefix))

const org = (name: string) => `org_${name}${prefix.slice(-6)}` as OrganizationId

/** What an alert-rule creation handler does: check and insert in one tenant transaction, as the app login. */
const createRule = (o: OrganizationId, id: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const quotas = yield* Quotas
    return yield* Effect.gen(function* () {
      yield* quotas.checkCreate("alertRules")
      yield* Effect.sleep("20 millis") // widen the window between count and insert
      yield* sql`INSERT INTO alert_rules (id, organization_id, name, threshold, window_minutes, webhook_url)
        VALUES (${id}, ${o}, ${id}, 1, 5, 'https://hooks.example.com/limits')`.pipe(Effect.orDie)
    }).pipe(Tenant.transaction)
  }).pipe(RequestContext.withContext(userContext(o, "usr_admin")))

layer(Live, { timeout: 60_000, excludeTestServices: true })("Quotas", (it) => {
  it.effect("concurrent creations at the limit: exactly the limit is created, the rest get LimitReached (429)", () =>
    Effect.gen(function* () {
      const o = org("rules")
      yield* setLimits(o, { quotas: { alertRules: 3 } })
      const results = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => `alr_${o}${i}`),
        (id) => Effect.either(createRule(o, id)),
        { concurrency: "unbounded" }
      )
      expect(results.filter(Either.isRight)).toHaveLength(3)
      const refused = results.filter(Either.isLeft).map((r) => r.left)
      expect(refused).toHaveLength(7)
      for (const e of refused) {
        expect(e).toBeInstanceOf(LimitReached)
        expect(e).toMatchObject({ resource: "alertRules", limit: 3 })
      }
      const sql = yield* ownerSql
      const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM alert_rules WHERE organization_id = ${o}`
      expect(row?.n).toBe(3)
    })
  )

  it.effect("API keys: the default limit applies until overridden, counted per organization", () =>
    Effect.gen(function* () {
      const o = org("keys")
      const other = org("other")
      const sql = yield* ownerSql
      const quotas = yield* Quotas
      yield* setLimits(o, { quotas: { apiKeys: 2 } })
      yield* organizations(other)
      const key = (id: string, owner: OrganizationId) => ({
        id,
        organization_id: owner,
        project_id: projectOf(owner),
        name: id,
        type: "full",
        key_hash: `hash-${id}-${owner}`,
        prefix: "tl_test"
      })
      yield* sql`INSERT INTO api_keys ${sql.insert([key("key_1", o), key("key_2", o), key("key_3", other), key("key_4", other)])}`
      const ctx = userContext(o, "usr_admin")
      const full = yield* Effect.either(quotas.checkCreate("apiKeys")).pipe(RequestContext.withContext(ctx))
      expect(Either.isLeft(full) && full.left.message).toBe("this organization has 2 API keys; its limit is 2")
      yield* setLimits(o, { quotas: { apiKeys: 3 } })
      yield* quotas.checkCreate("apiKeys").pipe(RequestContext.withContext(ctx))
    })
  )

  it.effect("alert evaluation is skipped for an organization over quota, with a log line and an audit row", () =>
    Effect.gen(function* () {
      const within = org("within")
      const over = org("over")
      const stored = org("stored")
      const quotas = yield* Quotas
      const sql = yield* ownerSql
      yield* organizations(within)
      yield* setLimits(over, { quotas: { ingestEventsPerMonth: 4 } })
      yield* setLimits(stored, { quotas: { storageBytes: 1000 } })
      yield* sql`INSERT INTO organization_storage (organization_id, bytes) VALUES (${stored}, 1000)`
      yield* quotas
        .ingest([1, 1, 1, 1], (n) => Effect.succeed(n))
        .pipe(RequestContext.withContext(keyContext(over, "key_o")))
      const evaluate = (o: OrganizationId) => {
        const ctx = RequestContext.system("alert evaluation", { organizationId: o })
        return Effect.map(quotas.allowAlertEvaluation.pipe(RequestContext.withContext(ctx)), (allowed) => ({
          allowed,
          ctx
        }))
      }
      expect((yield* evaluate(within)).allowed).toBe(true)
      const skipped = yield* evaluate(over)
      expect(skipped.allowed).toBe(false)
      expect((yield* evaluate(stored)).allowed).toBe(false)
      const audit = yield* sql<{
        organization_id: string
        action: string
        actor_type: string
        request_id: string
        changes: { quotas: Array<string> }
      }>`
        SELECT organization_id, action, actor_type, request_id, changes FROM audit_log ORDER BY id`
      expect(audit.map((a) => [a.organization_id, a.action, a.actor_type, a.changes.quotas])).toEqual([
        [over, "alert.evaluation_skipped", "system", ["ingestEventsPerMonth"]],
        [stored, "alert.evaluation_skipped", "system", ["storageBytes"]]
      ])
      expect(audit[0]?.request_id).toBe(skipped.ctx.requestId)
      const logged = lines.filter((l) => l.msg === "limits: alert evaluation skipped, organization over quota")
      expect(logged.map((l) => l.organizationId)).toEqual([over, stored])
      expect(logged[0]?.requestId).toBe(skipped.ctx.requestId)
    })
  )

  it.effect("stored bytes over their quota refuse ingestion outright, counting nothing", () =>
    Effect.gen(function* () {
      const o = org("full")
      const sql = yield* ownerSql
      yield* setLimits(o, { quotas: { storageBytes: 500 } })
      yield* sql`INSERT INTO organization_storage (organization_id, bytes) VALUES (${o}, 501)`
      const quotas = yield* Quotas
      const result = yield* Effect.either(quotas.ingest([1], (n) => Effect.succeed(n))).pipe(
        RequestContext.withContext(keyContext(o, "key_f"))
      )
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "QuotaExceeded", retryAfterSeconds: 3600 })
    })
  )

  it.effect("searches are limited per organization per minute; system work is not counted", () =>
    Effect.gen(function* () {
      const quotas = yield* Quotas
      const o = org("search")
      const system = RequestContext.system("alert evaluation", { organizationId: o })
      yield* Effect.repeatN(quotas.checkQuery.pipe(RequestContext.withContext(system)), 9)
      const results = yield* Effect.forEach(Array.from({ length: 7 }), () =>
        Effect.either(quotas.checkQuery).pipe(RequestContext.withContext(keyContext(o, "key_s")))
      )
      expect(results.filter(Either.isRight)).toHaveLength(5)
      const refused = results.filter(Either.isLeft).map((r) => r.left)
      expect(refused).toHaveLength(2)
      expect(refused[0]?.retryAfterSeconds).toBeGreaterThanOrEqual(1)
      const otherOrg = yield* Effect.either(quotas.checkQuery).pipe(
        RequestContext.withContext(keyContext(org("else"), "key_x"))
      )
      expect(Either.isRight(otherOrg)).toBe(true)
    })
  )
})
