/**
 * `OverridesStore` on the `organization_limits` table (migration 0004): one row per organization with an override,
 * one nullable column per limit, NULL meaning "the default". A PUT creates the row if needed, locks it, merges the
 * patch and writes it back in one transaction, so two concurrent PUTs on different fields both take effect;
 * `updated_by` is the actor of the context (the platform administrator's user id).
 * Phase 2: run `get` and `put` in the storage area's tenant transaction (the table has row-level security).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Layer, Schema } from "effect"
import { type OrganizationId, RequestContext } from "../RequestContext.js"
import {
  type LimitOverrides,
  noOverrides,
  type OverridesPatch,
  patchOverrides,
  type QuotaName,
  type RateLimitName
} from "./LimitsDocument.js"
import { LimitsStoreError, OverridesStore } from "./OverridesStore.js"

/** node-postgres returns bigint columns as strings. */
const Column = Schema.NullOr(Schema.Union(Schema.Number, Schema.NumberFromString))

const Row = Schema.Struct({
  requests_per_minute: Column,
  api_key_requests_per_minute: Column,
  ingest_events_per_month: Column,
  ingest_bytes_per_month: Column,
  storage_bytes: Column,
  alert_rules: Column,
  api_keys: Column
})
type Row = typeof Row.Type

const set = <K extends string>(out: { [k in K]?: number }, key: K, value: number | null) => {
  if (value !== null) out[key] = value
}

const fromRow = (row: Row): LimitOverrides => {
  const rateLimit: { [k in RateLimitName]?: number } = {}
  const quotas: { [k in QuotaName]?: number } = {}
  set(rateLimit, "requestsPerMinute", row.requests_per_minute)
  set(rateLimit, "apiKeyRequestsPerMinute", row.api_key_requests_per_minute)
  set(quotas, "ingestEventsPerMonth", row.ingest_events_per_month)
  set(quotas, "ingestBytesPerMonth", row.ingest_bytes_per_month)
  set(quotas, "storageBytes", row.storage_bytes)
  set(quotas, "alertRules", row.alert_rules)
  set(quotas, "apiKeys", row.api_keys)
  return { rateLimit, quotas }
}

export const OverridesSql: Layer.Layer<OverridesStore, never, SqlClient.SqlClient> = Layer.effect(
  OverridesStore,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const columns = sql`requests_per_minute, api_key_requests_per_minute, ingest_events_per_month,
      ingest_bytes_per_month, storage_bytes, alert_rules, api_keys`
    const find = SqlSchema.findOne({
      Request: Schema.Struct({ id: Schema.String, lock: Schema.Boolean }),
      Result: Row,
      execute: ({ id, lock }) =>
        sql`SELECT ${columns} FROM organization_limits WHERE organization_id = ${id} ${lock ? sql`FOR UPDATE` : sql``}`
    })
    const read = (id: OrganizationId, lock: boolean) =>
      find({ id, lock }).pipe(
        Effect.map((row) => (row._tag === "Some" ? fromRow(row.value) : noOverrides)),
        Effect.mapError((cause) => new LimitsStoreError({ cause }))
      )

    const put = (id: OrganizationId, patch: OverridesPatch) =>
      Effect.gen(function* () {
        const ctx = yield* RequestContext
        const actor = ctx.userId ?? ctx.apiKeyId ?? `system:${ctx.actor._tag === "system" ? ctx.actor.reason : ""}`
        const fail = Effect.mapError((cause: unknown) => new LimitsStoreError({ cause }))
        // make sure a row exists to lock: on a first PUT, FOR UPDATE alone locks nothing and two PUTs would each
        // write their own merge, the last one dropping the other's fields
        yield* sql`INSERT INTO organization_limits (organization_id, updated_by) VALUES (${id}, ${actor})
          ON CONFLICT (organization_id) DO NOTHING`.pipe(fail)
        const before = yield* read(id, true)
        const next = patchOverrides(before, patch)
        const v = (n: number | undefined) => n ?? null
        yield* sql`UPDATE organization_limits SET
            requests_per_minute = ${v(next.rateLimit.requestsPerMinute)},
            api_key_requests_per_minute = ${v(next.rateLimit.apiKeyRequestsPerMinute)},
            ingest_events_per_month = ${v(next.quotas.ingestEventsPerMonth)},
            ingest_bytes_per_month = ${v(next.quotas.ingestBytesPerMonth)},
            storage_bytes = ${v(next.quotas.storageBytes)}, alert_rules = ${v(next.quotas.alertRules)},
            api_keys = ${v(next.quotas.apiKeys)}, updated_at = now(), updated_by = ${actor}
          WHERE organization_id = ${id}`.pipe(fail)
        return { before, after: next }
      }).pipe(
        sql.withTransaction,
        Effect.catchTag("SqlError", (cause) => Effect.fail(new LimitsStoreError({ cause })))
      )

    return OverridesStore.of({ get: (id) => read(id, false), put })
  })
)
