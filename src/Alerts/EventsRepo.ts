/**
 * Read side of alert events and webhook deliveries for the API: newest first, tenant-scoped (RLS + org filter in
 * the caller's tenant transaction or its own), keyset-paged by (time, id) so a page is stable while rows are added.
 * Times are compared at millisecond precision: the cursor carries a JS Date, Postgres keeps microseconds.
 * The cursor and page helpers are shared with the rules list (RulesRepo), which pages oldest first.
 */
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"
import { inTenant } from "../Sql/RepoSupport.js"
import { Tenant } from "../Sql/Tenant.js"

export class InvalidEventsCursor extends Data.TaggedError("Alerts/InvalidEventsCursor")<{
  readonly message: string
}> {}

interface Position {
  readonly at: Date
  readonly id: string
}

/** Opaque cursor: the time and id of the last row returned. */
export const EventsCursor = {
  encode: (p: Position): string => Buffer.from(`e:${p.at.toISOString()}|${p.id}`).toString("base64url"),
  decode: (cursor: string): Effect.Effect<Position, InvalidEventsCursor> => {
    const match = /^e:([0-9T:.Z-]{20,30})\|([A-Za-z0-9_]{1,80})$/.exec(Buffer.from(cursor, "base64url").toString())
    const at = match?.[1] === undefined ? null : new Date(match[1])
    return at !== null && match?.[2] !== undefined && !Number.isNaN(at.getTime())
      ? Effect.succeed({ at, id: match[2] })
      : Effect.fail(new InvalidEventsCursor({ message: "cursor is not one this API returned" }))
  }
} as const

export interface AlertEventRow {
  readonly id: string
  readonly projectId: string | null
  readonly ruleId: string | null
  readonly ruleName: string
  readonly count: number
  readonly threshold: number
  readonly windowMinutes: number
  readonly windowFrom: Date
  readonly windowTo: Date
  readonly triggeredAt: Date
  readonly requestId: string | null
}

export interface DeliveryListRow {
  readonly id: string
  readonly alertEventId: string | null
  readonly ruleId: string | null
  readonly url: string
  readonly eventType: string
  readonly status: string
  readonly attempts: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly nextAttemptAt: Date | null
  readonly createdAt: Date
  readonly deliveredAt: Date | null
}

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | null
}

export interface PageOptions {
  readonly cursor?: string | undefined
  readonly limit?: number | undefined
}

/** 1..200, `fallback` when absent. */
export const clampLimit = (limit: number | undefined, fallback = 50) =>
  Math.min(Math.max(Math.trunc(limit ?? fallback), 1), 200)

/** The first `limit` of `rows` (fetched with one extra), and the cursor after the last one when there are more. */
export const pageOf = <A extends { readonly id: string }>(
  rows: ReadonlyArray<A>,
  limit: number,
  at: (a: A) => Date
) => {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  const nextCursor =
    rows.length > limit && last !== undefined ? EventsCursor.encode({ at: at(last), id: last.id }) : null
  return { items, nextCursor } satisfies Page<A>
}

export class EventsRepo extends Effect.Service<EventsRepo>()("Alerts/EventsRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)

    const listEvents = (options: { readonly cursor?: string | undefined; readonly limit?: number | undefined }) =>
      Effect.gen(function* () {
        const after = options.cursor === undefined ? null : yield* EventsCursor.decode(options.cursor)
        const limit = clampLimit(options.limit)
        const rows = yield* scoped(
          Effect.gen(function* () {
            const org = yield* Tenant.orgFilter(sql)
            const before =
              after === null
                ? sql.literal("TRUE")
                : sql`(date_trunc('milliseconds', triggered_at), id) < (${after.at}, ${after.id})`
            return yield* sql<AlertEventRow>`SELECT id, project_id, rule_id, rule_name, count, threshold,
                window_minutes, window_from, window_to, triggered_at, request_id
              FROM alert_events WHERE ${org} AND ${before}
              ORDER BY date_trunc('milliseconds', triggered_at) DESC, id DESC LIMIT ${limit + 1}`
          })
        )
        return pageOf(rows, limit, (r) => r.triggeredAt)
      }).pipe(Effect.withSpan("EventsRepo.listEvents"))

    const listDeliveries = (options: { readonly cursor?: string | undefined; readonly limit?: number | undefined }) =>
      Effect.gen(function* () {
        const after = options.cursor === undefined ? null : yield* EventsCursor.decode(options.cursor)
        const limit = clampLimit(options.limit)
        const rows = yield* scoped(
          Effect.gen(function* () {
            const org = yield* Tenant.orgFilter(sql)
            const before =
              after === null
                ? sql.literal("TRUE")
                : sql`(date_trunc('milliseconds', created_at), id) < (${after.at}, ${after.id})`
            return yield* sql<DeliveryListRow>`SELECT id, alert_event_id, rule_id, url, event_type, status, attempts,
                last_status, last_error, next_attempt_at, created_at, delivered_at
              FROM webhook_deliveries WHERE ${org} AND ${before}
              ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC LIMIT ${limit + 1}`
          })
        )
        return pageOf(rows, limit, (r) => r.createdAt)
      }).pipe(Effect.withSpan("EventsRepo.listDeliveries"))

    return { listEvents, listDeliveries } as const
  })
}) {}
