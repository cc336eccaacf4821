/**
 * The limits area's ports on the real tables, with tenant isolation: every read and write of a tenant row runs in
 * `Tenant.transaction` under a context of the organization concerned (the request's own context when it is that
 * organization's, so its statements carry the request's id; otherwise a system context naming the limits), and the
 * usage flush, which writes many organizations' rows in one statement, goes through the audited bypass.
 *
 * OverridesSql and UsageSql decode snake_case rows: they get the client without the name transforms (the same pool
 * and transaction; only result names differ).
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { type OrganizationId, RequestContext, type RequestContextData } from "../RequestContext.js"
import { Tenant } from "../Sql/Tenant.js"
import { LimitsAudit } from "./LimitsAudit.js"
import { OverridesSql } from "./OverridesSql.js"
import { OverridesStore } from "./OverridesStore.js"
import { ResourceCounts } from "./ResourceCounts.js"
import { UsageSql } from "./UsageSql.js"

export const USAGE_FLUSH_BYPASS_REASON = "limits-usage-flush"

/** The context to touch `organizationId`'s rows under: the current one when it is that organization's. */
const contextFor = (organizationId: OrganizationId, reason: string): Effect.Effect<RequestContextData> =>
  Effect.map(Effect.serviceOption(RequestContext), (current) =>
    Option.isSome(current) && current.value.organizationId === organizationId
      ? current.value
      : RequestContext.system(reason, { organizationId })
  )

const asTenant =
  (sql: SqlClient.SqlClient, organizationId: OrganizationId, reason: string) =>
  <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.flatMap(contextFor(organizationId, reason), (ctx) =>
      Tenant.transaction(effect).pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.provideService(RequestContext, ctx)
      )
    )

export const OverridesStoreLive: Layer.Layer<OverridesStore, never, SqlClient.SqlClient> = Layer.effect(
  OverridesStore,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const inner = yield* Effect.provide(
      OverridesStore,
      OverridesSql.pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient, sql.withoutTransforms())))
    )
    return OverridesStore.of({
      get: (id) => asTenant(sql, id, "limits")(inner.get(id)),
      // a change is written under the organization's own context (the handler switched to it after its checks);
      // a caller under any other context is a programming error, not something to re-point silently
      put: (id, patch) =>
        Effect.flatMap(RequestContext, (ctx) =>
          ctx.organizationId === id
            ? Tenant.transaction(inner.put(id, patch)).pipe(Effect.provideService(SqlClient.SqlClient, sql))
            : Effect.dieMessage(`limits of ${id} changed under the context of ${ctx.organizationId}`)
        )
    })
  })
)

export const UsageSqlLive: Layer.Layer<UsageSql, never, SqlClient.SqlClient> = Layer.effect(
  UsageSql,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const inner = yield* Effect.provide(
      UsageSql,
      UsageSql.Default.pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient, sql.withoutTransforms())))
    )
    return UsageSql.make({
      read: (id, month) => asTenant(sql, id, "limits")(inner.read(id, month)),
      write: (rows) =>
        rows.length === 0
          ? Effect.void
          : Effect.flatMap(Effect.serviceOption(RequestContext), (current) =>
              Tenant.bypass(USAGE_FLUSH_BYPASS_REASON, inner.write(rows)).pipe(
                Effect.provideService(SqlClient.SqlClient, sql),
                Effect.provideService(
                  RequestContext,
                  Option.isSome(current) && current.value.actor._tag === "system"
                    ? current.value
                    : RequestContext.system("usage flush")
                )
              )
            )
    })
  })
)

export const ResourceCountsLive: Layer.Layer<ResourceCounts, never, SqlClient.SqlClient> = Layer.effect(
  ResourceCounts,
  Effect.map(SqlClient.SqlClient, (sql) =>
    ResourceCounts.of({
      // in the caller's tenant transaction (checkCreate runs inside the inserting one): sees what the insert sees
      count: (resource) =>
        Effect.flatMap(RequestContext, (ctx) =>
          (resource === "alertRules"
            ? sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM alert_rules
                WHERE organization_id = ${ctx.organizationId}`
            : sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM api_keys
                WHERE organization_id = ${ctx.organizationId} AND revoked_at IS NULL`
          ).pipe(Tenant.ensure, Effect.provideService(SqlClient.SqlClient, sql))
        ).pipe(
          Effect.map((rows) => rows[0]?.n ?? 0),
          Effect.orDie
        ),
      // the maintenance run's last measurement (migration 0009); 0 before the first one
      storageBytes: (id) =>
        asTenant(
          sql,
          id,
          "limits"
        )(
          sql<{ readonly bytes: string }>`SELECT bytes::text AS bytes FROM organization_storage
            WHERE organization_id = ${id}`
        ).pipe(
          Effect.map((rows) => Number(rows[0]?.bytes ?? 0)),
          Effect.orDie
        )
    })
  )
)

export const LimitsAuditLive: Layer.Layer<LimitsAudit, never, AuditLog> = Layer.effect(
  LimitsAudit,
  Effect.map(AuditLog, (audit) =>
    LimitsAudit.of({
      record: (action, details) =>
        Effect.flatMap(RequestContext, (ctx) =>
          audit.record({ action, target: { type: "organization", id: ctx.organizationId }, changes: details })
        ).pipe(Effect.orDie)
    })
  )
)

/** All four ports. */
export const LimitsStorageLive = Layer.mergeAll(
  OverridesStoreLive,
  UsageSqlLive,
  ResourceCountsLive,
  LimitsAuditLive
) satisfies Layer.Layer<OverridesStore | UsageSql | ResourceCounts | LimitsAudit, never, SqlClient.SqlClient | AuditLog>
