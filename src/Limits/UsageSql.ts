/**
 * The durable side of usage: one `usage_counters` row per organization and month (migration 0004, plus the `jobs`
 * column proposed in README.md). Redis is
 * the source of truth while a month runs; rows are written from it by UsageFlush and read back only to seed Redis
 * (a new month, or a Redis that lost its data) and while Redis is unreachable. Writes never lower a row
 * (GREATEST), so a flush from a Redis that was reseeded or replayed out of order cannot lose counted usage.
 * Phase 2: `read` runs in the tenant transaction, `write` is system work over many tenants (Tenant.bypass).
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import type { OrganizationId } from "../RequestContext.js"
import { monthStartDate } from "./Month.js"

export interface Counters {
  readonly events: number
  readonly bytes: number
  readonly jobs: number
}
export const zero: Counters = { events: 0, bytes: 0, jobs: 0 }

export interface UsageRow extends Counters {
  readonly organizationId: OrganizationId
  readonly month: string
}

const Big = Schema.Union(Schema.Number, Schema.NumberFromString)
const decodeRow = Schema.decodeUnknown(Schema.Struct({ ingest_events: Big, ingest_bytes: Big, jobs: Big }))

export class UsageSql extends Effect.Service<UsageSql>()("Limits/UsageSql", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** The stored counters of one organization and month; zero when there is no row yet. */
    const read = (organizationId: OrganizationId, month: string): Effect.Effect<Counters> =>
      sql`SELECT ingest_events, ingest_bytes, jobs FROM usage_counters
          WHERE organization_id = ${organizationId} AND month = ${monthStartDate(month)}::date`.pipe(
        Effect.flatMap((rows) =>
          Option.match(Option.fromNullable(rows[0]), {
            onNone: () => Effect.succeed(zero),
            onSome: (row) =>
              Effect.map(decodeRow(row), (r) => ({ events: r.ingest_events, bytes: r.ingest_bytes, jobs: r.jobs }))
          })
        ),
        Effect.orDie
      )

    /** Upserts many rows in one statement; each column only ever grows. */
    const write = (rows: ReadonlyArray<UsageRow>) =>
      rows.length === 0
        ? Effect.void
        : sql`INSERT INTO usage_counters (organization_id, month, ingest_events, ingest_bytes, jobs)
            SELECT * FROM unnest(${rows.map((r) => r.organizationId)}::text[],
                                 ${rows.map((r) => monthStartDate(r.month))}::date[],
                                 ${rows.map((r) => String(r.events))}::bigint[],
                                 ${rows.map((r) => String(r.bytes))}::bigint[],
                                 ${rows.map((r) => String(r.jobs))}::bigint[])
            ON CONFLICT (organization_id, month) DO UPDATE SET
              ingest_events = GREATEST(usage_counters.ingest_events, EXCLUDED.ingest_events),
              ingest_bytes = GREATEST(usage_counters.ingest_bytes, EXCLUDED.ingest_bytes),
              jobs = GREATEST(usage_counters.jobs, EXCLUDED.jobs),
              updated_at = now()`.pipe(Effect.asVoid)

    return { read, write } as const
  })
}) {}
