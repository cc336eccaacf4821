/**
 * Log retention: drops or deletes each organization's logs older than its retention days and creates the upcoming
 * daily partitions, by calling the storage maintenance function `logs_maintenance`. It reads every tenant's rows,
 * so it runs only as system work (scheduled by the jobs area) and through the named bypass of tenant isolation:
 * the app role can neither DELETE logs nor create/drop partitions, and `Tenant.bypass` dies for a non-system actor
 * and leaves a `tenant.bypass` audit row naming RETENTION_BYPASS_REASON.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { Tenant } from "../Sql/Tenant.js"

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
      // deleted_rows is bigint (a string on the wire): cast, the counts of one run fit an int
      const rows = yield* Tenant.bypass(
        RETENTION_BYPASS_REASON,
        sql<RetentionResult>`SELECT deleted_rows::int AS deleted_rows, dropped_partitions::int AS dropped_partitions,
            created_partitions::int AS created_partitions
          FROM logs_maintenance(now())`.pipe(Effect.orDie)
      ).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      const row = rows[0]
      const result: RetentionResult = {
        deletedRows: row?.deletedRows ?? 0,
        droppedPartitions: row?.droppedPartitions ?? 0,
        createdPartitions: row?.createdPartitions ?? 0
      }
      yield* Effect.logInfo("logs retention done", { ...result, bypass: RETENTION_BYPASS_REASON })
      return result
    })

    return { run } as const
  })
}) {}
