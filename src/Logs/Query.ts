/**
 * Search, stats and trace over the logs of the context's project, on the read client.
 * Pages are keyset pages on (time, id), newest first: a page starts strictly below the last row of the previous one,
 * so rows ingested meanwhile never shift a page boundary and nothing is repeated or skipped. A page ends at `limit`
 * rows or at `maxPageBytes` (at least one row). Each organization runs a few at once (SearchGate), each statement
 * under a statement timeout. `offset` exists for LogTide SDK clients only; its `total` is a bounded exact count.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Either } from "effect"
import { ReadSql } from "../Sql/Client.js"
import { Tenant } from "../Sql/Tenant.js"
import { decodeCursor, encodeCursor } from "./Cursor.js"
import { type Filters, whereClauses } from "./Filters.js"
import { type LogIds, makeLogIds } from "./LogId.js"
import { LogsConfig } from "./LogsConfig.js"
import { ProjectScope, type Scope } from "./ProjectScope.js"
import { InvalidQuery, type LogOut, QueryTimeout, type SearchReply, type StatsReply } from "./QueryTypes.js"
import { Quota } from "./Quota.js"
import { makeSearchGate } from "./SearchGate.js"
import { bucketSeconds, fillBuckets, type StatsRow } from "./Stats.js"

export interface SearchParams extends Filters {
  readonly projectId?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
  readonly offset?: number | undefined
}

export interface StatsParams extends Filters {
  readonly projectId?: string | undefined
  readonly interval?: number | undefined
}

export const TIME_TEXT = `to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
/** Characters JSON writes as six (`\u0001`): the control characters a stored text may hold (never NUL). */
const CONTROL = Array.from({ length: 31 }, (_, i) => `\\x${(i + 1).toString(16).padStart(2, "0")}`).join("")
/**
 * At least the bytes `column` takes once JSON-encoded in the reply: its UTF-8 bytes, 5 more per control character
 * (`\u0001`; `\n` and the like take 2, counted as 6) and 1 more per `"` or `\`.
 */
const jsonBytes = (column: string) =>
  `(octet_length(${column}) + 5 * (length(${column}) - length(translate(${column}, E'${CONTROL}', '')))
    + (length(${column}) - length(translate(${column}, E'"\\\\', ''))))`
/**
 * At least the bytes an entry takes in the reply: its text fields as JSON strings (metadata as jsonb's text, already
 * JSON and never shorter than the reply's form of it), plus the JSON keys, id, time and project id.
 */
const SIZE = `250 + ${jsonBytes("service")} + ${jsonBytes("message")} + coalesce(octet_length(metadata::text), 0)
  + coalesce(octet_length(trace_id), 0) + coalesce(octet_length(span_id), 0) + coalesce(octet_length(session_id), 0)`

/** SQLSTATE 57014 query_canceled: the statement timeout fired (nothing else cancels a search's statement). */
const isCanceled = (e: SqlError): boolean => (e.cause as { code?: unknown } | undefined)?.code === "57014"

export interface Row {
  readonly id: string
  readonly time: string
  readonly service: string
  readonly level: LogOut["level"]
  readonly message: string
  readonly metadata: Record<string, unknown> | null
  readonly traceId: string | null
  readonly spanId: string | null
  readonly sessionId: string | null
  /** Whether a row follows this one (within the limit+1 rows read): the page has more. */
  readonly hasNext: boolean
}

export class LogsQuery extends Effect.Service<LogsQuery>()("Logs/Query", {
  effect: Effect.gen(function* () {
    const sql = yield* ReadSql
    const quota = yield* Quota
    const config = yield* LogsConfig
    const scope = yield* ProjectScope
    const ids = makeLogIds(config.idKey)
    const gate = makeSearchGate({
      permits: config.orgConcurrency,
      processPermits: config.processConcurrency,
      waitMs: config.queueWaitMs
    })
    const timeout = new QueryTimeout({
      message: `the search took longer than ${config.queryTimeoutMs} ms; narrow the time range (from, to) or add filters`
    })
    /**
     * Statements in a read transaction scoped to the context's organization (RLS), on this client, under the
     * search statement timeout (SET LOCAL: it ends with the transaction); a timeout is QueryTimeout, any other
     * database failure a defect (503 when the database is unreachable).
     */
    const read = <A, R>(effect: Effect.Effect<A, SqlError, R>) =>
      Effect.zipRight(sql`SELECT set_config('statement_timeout', ${String(config.queryTimeoutMs)}, true)`, effect).pipe(
        Effect.catchAll((e) => (isCanceled(e) ? Effect.fail(timeout) : Effect.die(e))),
        Tenant.read,
        Effect.provideService(ReadSql, sql)
      )

    const clampLimit = (limit: number | undefined): number =>
      Math.min(Math.max(Math.trunc(limit ?? config.defaultQueryLimit), 1), config.maxQueryLimit)

    const checkRange = (f: Filters) =>
      f.from !== undefined && f.to !== undefined && f.from.getTime() > f.to.getTime()
        ? Effect.fail(InvalidQuery.of("from", "must not be after to"))
        : Effect.void

    // the whole search runs under the resolved context: a session's `org_system` context becomes the project's
    const search = (params: SearchParams) =>
      Effect.zipRight(
        checkRange(params),
        scope.within(params.projectId, (s) => gate.run(s.organizationId, searchIn(s, params)))
      ).pipe(Effect.withSpan("Logs.search"))

    const searchIn = Effect.fn("Logs.searchIn")(function* ({ organizationId, projectId }: Scope, params: SearchParams) {
      yield* quota.checkQuery
      const limit = clampLimit(params.limit)
      const clauses = whereClauses(sql, organizationId, projectId, params)
      if (params.cursor !== undefined) {
        const cursor = decodeCursor(ids, params.cursor)
        if (Either.isLeft(cursor)) return yield* InvalidQuery.of("cursor", cursor.left)
        clauses.push(sql`(time, id) < (${cursor.right.time}::timestamptz, ${cursor.right.id}::bigint)`)
      }
      const useOffset = params.cursor === undefined && params.offset !== undefined
      const offset = useOffset ? Math.max(0, Math.trunc(params.offset ?? 0)) : 0
      // limit+1 rows in order; of those, the first `limit` whose running size stays within the page's bytes (the
      // first row always); `has_next` says whether a row follows, so the page knows it has more
      const page = sql<Row>`SELECT id::text AS id, ${sql.literal(TIME_TEXT)} AS time, service, level, message,
          metadata, trace_id, span_id, session_id, has_next
        FROM (
          SELECT r.*, row_number() OVER w AS rn, sum(r.size) OVER w AS upto, lead(true, 1, false) OVER w AS has_next
          FROM (
            SELECT id, time, service, level, message, metadata, trace_id, span_id, session_id,
              ${sql.literal(SIZE)} AS size
            FROM logs WHERE ${sql.and(clauses)}
            ORDER BY logs.time DESC, logs.id DESC LIMIT ${limit + 1} OFFSET ${offset}
          ) r
          WINDOW w AS (ORDER BY r.time DESC, r.id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ) x
        WHERE x.rn <= ${limit} AND (x.rn = 1 OR x.upto <= ${config.maxPageBytes})
        -- qualified: the bare name would sort by the text output column of the same name
        ORDER BY x.time DESC, x.id DESC`
      // offset mode: an exact count of the matching rows of this project, stopped one past the bound
      const counted = sql<{ readonly n: number }>`SELECT count(*)::int AS n
        FROM (SELECT 1 FROM logs WHERE ${sql.and(whereClauses(sql, organizationId, projectId, params))}
          LIMIT ${config.countLimit + 1}) s`
      const [rows, count] = yield* read(
        Effect.all([page, useOffset ? Effect.map(counted, (r) => r[0]?.n ?? 0) : Effect.succeed(0)])
      )
      const last = rows[rows.length - 1]
      const hasMore = last?.hasNext ?? false
      const reply: SearchReply = {
        logs: rows.map(toOut(ids, projectId)),
        hasMore,
        nextCursor: hasMore && last !== undefined ? encodeCursor(ids, { time: last.time, id: last.id }) : null,
        limit
      }
      if (!useOffset) return reply
      const seen = offset + rows.length + (hasMore ? 1 : 0)
      return {
        ...reply,
        offset,
        total: Math.max(Math.min(count, config.countLimit), seen),
        totalIsLowerBound: count > config.countLimit
      }
    })

    const stats = Effect.fn("Logs.stats")(function* (params: StatsParams) {
      const to = params.to ?? new Date()
      const from = params.from ?? new Date(to.getTime() - 24 * 3600_000)
      yield* checkRange({ from, to })
      const interval = bucketSeconds(from, to, params.interval)
      if (Either.isLeft(interval)) return yield* InvalidQuery.of("interval", interval.left)
      const seconds = interval.right
      return yield* scope.within(params.projectId, (s) =>
        gate.run(s.organizationId, statsIn(s, { ...params, from, to }, seconds))
      )
    })

    const statsIn = Effect.fn("Logs.statsIn")(function* (
      { organizationId, projectId }: Scope,
      params: StatsParams & { readonly from: Date; readonly to: Date },
      seconds: number
    ) {
      const { from, to } = params
      yield* quota.checkQuery
      const clauses = whereClauses(sql, organizationId, projectId, params)
      const rows = yield* sql<StatsRow>`SELECT
          extract(epoch FROM date_bin(${seconds} * interval '1 second', time, 'epoch'::timestamptz))::float8 AS bucket,
          level, count(*)::int AS count
        FROM logs WHERE ${sql.and(clauses)} GROUP BY 1, 2 ORDER BY 1`.pipe(read)
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        intervalSeconds: seconds,
        buckets: fillBuckets(rows, from, to, seconds)
      } satisfies StatsReply
    })

    const trace = Effect.fn("Logs.trace")(function* (traceId: string, params: SearchParams) {
      return yield* search({ ...params, traceId, limit: params.limit ?? config.maxQueryLimit })
    })

    /**
     * For the other read routes (src/Logs/Read.ts): `f` on the resolved project, under the same context, per-org
     * gate and query quota as search; its statements go through `read`.
     */
    const scoped = <A, E, R>(projectId: string | undefined, f: (scope: Scope) => Effect.Effect<A, E, R>) =>
      scope.within(projectId, (s) => gate.run(s.organizationId, Effect.zipRight(quota.checkQuery, f(s))))

    return { search, stats, trace, scoped, read, ids, toOut: (projectId: string) => toOut(ids, projectId) } as const
  })
}) {}

const toOut =
  (ids: LogIds, projectId: string) =>
  (r: Row): LogOut => ({
    // opaque ids with a type prefix: neither the order of rows nor the platform's volume shows through
    id: ids.encode(r.id),
    time: r.time,
    project_id: projectId,
    service: r.service,
    level: r.level,
    message: r.message,
    metadata: r.metadata,
    trace_id: r.traceId,
    span_id: r.spanId,
    session_id: r.sessionId
  })
