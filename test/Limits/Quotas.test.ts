import { SqlClient } from "@effect/sql"
import { afterAll, expect, layer } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { OrganizationLimits } from "../../src/Limits/OrganizationLimits.js"
import { OverridesSql } from "../../src/Limits/OverridesSql.js"
import { LimitReached, Quotas } from "../../src/Limits/Quotas.js"
import { type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import {
  appConfig,
  captureLogs,
  cleanup,
  configProvider,
  databaseLayer,
  keyContext,
  LimitsAuditSql,
  type Line,
  redisUrl,
  ResourceCountsSql,
  uniquePrefix,
  userContext,
  setLimits
} from "./Support.js"

const prefix = uniquePrefix("quotas")
const env = { REDIS_URL: redisUrl(), THREADLINE_LIMITS_PREFIX: prefix, THREADLINE_RATE_LIMIT_QUERIES_PER_MINUTE: "5" }
const lines: Array<Line> = []
const Live = Layer.mergeAll(Quotas.Default, OrganizationLimits.Default).pipe(
  Layer.provide(Layer.mergeAll(OverridesSql, ResourceCountsSql, LimitsAuditSql)),
  Layer.provideMerge(databaseLayer("quotas")),
  Layer.provide(appConfig(env)),
  Layer.provide(configProvider(env)),
  Layer.provide(captureLogs(lines))
)
afterAll(() => cleanup(prefix))

const org = (name: string) => `org_${name}${prefix.slice(-6)}` as OrganizationId

/** What an alert-rule creation handler does: check and insert in one transaction. */
const createRule = (o: OrganizationId, id: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const quotas = yield* Quotas
    return yield* Effect.gen(function* () {
      yield* quotas.checkCreate("alertRules")
      yield* Effect.sleep("20 millis") // widen the window between count and insert
      yield* sql`INSERT INTO alert_rules (id, organization_id, name) VALUES (${id}, ${o}, ${id})`.pipe(Effect.orDie)
    }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))
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
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM alert_rules WHERE organization_id = ${o}`
      expect(row?.n).toBe(3)
    })
  )

  it.effect("API keys: the default limit applies until overridden, counted per organization", () =>
    Effect.gen(function* () {
      const o = org("keys")
      const sql = yield* SqlClient.SqlClient
      const quotas = yield* Quotas
      yield* setLimits(o, { quotas: { apiKeys: 2 } })
      yield* sql`INSERT INTO api_keys (id, organization_id, name) VALUES ('key_1', ${o}, 'a'), ('key_2', ${o}, 'b'),
                 ('key_3', ${org("other")}, 'c'), ('key_4', ${org("other")}, 'd')`
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
      const sql = yield* SqlClient.SqlClient
      yield* setLimits(over, { quotas: { ingestEventsPerMonth: 4 } })
      yield* setLimits(stored, { quotas: { storageBytes: 1000 } })
      yield* sql`INSERT INTO stored_bytes VALUES (${stored}, 1000)`
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
        actor: string
        request_id: string
        details: { quotas: Array<string> }
      }>`
        SELECT organization_id, action, actor, request_id, details FROM audit_log ORDER BY id`
      expect(audit.map((a) => [a.organization_id, a.action, a.actor, a.details.quotas])).toEqual([
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
      const sql = yield* SqlClient.SqlClient
      yield* setLimits(o, { quotas: { storageBytes: 500 } })
      yield* sql`INSERT INTO stored_bytes VALUES (${o}, 501)`
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
