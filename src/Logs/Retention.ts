/**
 * Log retention: drops or deletes each organization's logs older than its retention days and creates the upcoming
 * daily partitions, by calling the storage maintenance function. It reads every tenant's rows, so it runs only as
 * system work (scheduled by the jobs issue) and through an explicit, named bypass of tenant isolation.
 *
 * PROVISIONAL seam: the SQL function (`logs_maintenance`) and the bypass are written by the storage issue; until
 * src/Sql/Tenant.ts lands this calls the function on the plain client and insists on a system actor itself.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { RequestContext } from "../RequestContext.js"

export const RETENTION_BYPASS_REASON = "logs-retention"

export interface RetentionResult {
  /** Rows removed by DELETE in partitions that also hold unexpired rows. */
  readonly deletedRows: number
  /** Whole daily partitions dropped because every organization's retention had passed them. */
  readonly droppedPartitions: number
  /** Partitions created ahead of time. */
  readonly createdPartitions: number
}

export class Retention extends Effect.Service<Retention>()("Logs/Retention", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const run = Effect.fn("Logs.retention")(function* () {
      const ctx = yield* RequestContext
      if (ctx.actor._tag !== "system") {
        return yield* Effect.dieMessage("Logs.retention is system work; it refuses to run for a tenant's request")
      }
      const rows = yield* sql<{
        deleted_rows: number
        dropped_partitions: number
        created_partitions: number
      }>`SELECT deleted_rows::int, dropped_partitions::int, created_partitions::int FROM logs_maintenance(now())`.pipe(
        Effect.orDie
      )
      const row = rows[0]
      const result: RetentionResult = {
        deletedRows: row?.deleted_rows ?? 0,
        droppedPartitions: row?.dropped_partitions ?? 0,
        createdPartitions: row?.created_partitions ?? 0
      }
      yield* Effect.logInfo("logs retention done", { ...result, bypass: RETENTION_BYPASS_REASON })
      return result
    })

    return { run } as const
  })
}) {}
