/**
 * Log retention: drops or deletes each organization's logs older than its retention days and creates the upcoming
 * daily partitions, by calling the storage maintenance function `logs_maintenance`. It reads every tenant's rows,
 * so it runs only as system work (scheduled by the jobs area) and through the named bypass of tenant isolation:
 * the app role can neither DELETE logs nor create/drop partitions, and `Tenant.bypass` dies for a non-system actor
 * and leaves a `tenant.bypass` audit row naming RETENTION_BYPASS_REASON. In the same bypass it then measures every
 * organization's stored bytes (`logs_measure_storage`, migration 0009) for the storage quota.
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
  /** Organizations whose stored bytes were measured afterwards (the storage quota reads it). */
  readonly measuredOrganizations: number
}

export class Retention extends Effect.Service<Retention>()("Logs/Retention", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const run = Effect.fn("Logs.retention")(function* () {
      // deleted_rows is bigint (a string on the wire): cast, the counts of one run fit an int
      const rows = yield* Tenant.bypass(
        RETENTION_BYPASS_REASON,
        Effect.zip(
          sql<Omit<RetentionResult, "measuredOrganizations">>`SELECT deleted_rows::int AS deleted_rows,
              dropped_partitions::int AS dropped_partitions, created_partitions::int AS created_partitions
            FROM logs_maintenance(now())`,
          // after retention, so the storage quota sees the space it freed
          sql<{ readonly measured: number }>`SELECT logs_measure_storage() AS measured`
        ).pipe(Effect.orDie)
      ).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      const row = rows[0][0]
      const result: RetentionResult = {
        deletedRows: row?.deletedRows ?? 0,
        droppedPartitions: row?.droppedPartitions ?? 0,
        createdPartitions: row?.createdPartitions ?? 0,
        measuredOrganizations: rows[1][0]?.measured ?? 0
      }
      yield* Effect.logInfo("logs retention done", { ...result, bypass: RETENTION_BYPASS_REASON })
      return result
    })

    return { run } as const
  })
}) {}
