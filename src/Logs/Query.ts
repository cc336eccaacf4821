/**
 * Search, stats and trace over the logs of the context's project, on the read client.
 * Pages are keyset pages on (time, id), newest first: a page starts strictly below the last row of the previous one,
 * so rows ingested meanwhile (newer, or anywhere) never shift a page boundary and nothing is repeated or skipped.
 * `offset` exists for LogTide SDK clients only; its `total` is the planner's row estimate, not a count.
 */
import { Effect, Either } from "effect"
import { ReadSql } from "../Sql/Client.js"
import { Tenant } from "../Sql/Tenant.js"
import { decodeCursor, encodeCursor } from "./Cursor.js"
import { type Filters, whereClauses } from "./Filters.js"
import { LogsConfig } from "./LogsConfig.js"
import { ProjectScope, type Scope } from "./ProjectScope.js"
import { InvalidQuery, type LogOut, type SearchReply, type StatsReply } from "./QueryTypes.js"
import { Quota } from "./Quota.js"
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

const TIME_TEXT = `to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

interface Row {
  readonly id: string
  readonly time: string
  readonly service: string
  readonly level: LogOut["level"]
  readonly message: string
  readonly metadata: Record<string, unknown> | null
  readonly traceId: string | null
  readonly spanId: string | null
  readonly sessionId: string | null
}

export class LogsQuery extends Effect.Service<LogsQuery>()("Logs/Query", {
  effect: Effect.gen(function* () {
    const sql = yield* ReadSql
    const quota = yield* Quota
    const config = yield* LogsConfig
    const scope = yield* ProjectScope
    // every statement runs in a read transaction scoped to the context's organization (RLS), on this client
    const read = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Tenant.read(effect).pipe(Effect.provideService(ReadSql, sql))

    const clampLimit = (limit: number | undefined): number =>
      Math.min(Math.max(Math.trunc(limit ?? config.defaultQueryLimit), 1), config.maxQueryLimit)

    const checkRange = (f: Filters) =>
      f.from !== undefined && f.to !== undefined && f.from.getTime() > f.to.getTime()
        ? Effect.fail(new InvalidQuery({ message: "from must not be after to" }))
        : Effect.void

    // the whole search runs under the resolved context: a session's `org_system` context becomes the project's
    const search = (params: SearchParams) =>
      Effect.zipRight(
        checkRange(params),
        scope.within(params.projectId, (s) => searchIn(s, params))
      ).pipe(Effect.withSpan("Logs.search"))

    const searchIn = Effect.fn("Logs.searchIn")(function* ({ organizationId, projectId }: Scope, params: SearchParams) {
      yield* quota.checkQuery
      const limit = clampLimit(params.limit)
      const clauses = whereClauses(sql, organizationId, projectId, params)
      if (params.cursor !== undefined) {
        const cursor = decodeCursor(params.cursor)
        if (Either.isLeft(cursor)) return yield* new InvalidQuery({ message: cursor.left })
        clauses.push(sql`(time, id) < (${cursor.right.time}::timestamptz, ${cursor.right.id})`)
      }
      const useOffset = params.cursor === undefined && params.offset !== undefined
      const offset = useOffset ? Math.max(0, Math.trunc(params.offset ?? 0)) : 0
      const rows = yield* sql<Row>`SELECT id::text AS id, ${sql.literal(TIME_TEXT)} AS time, service, level, message,
          metadata, trace_id, span_id, session_id
        FROM logs WHERE ${sql.and(clauses)}
        -- qualified: the bare names would sort by the text output columns of the same names
        ORDER BY logs.time DESC, logs.id DESC LIMIT ${limit + 1} OFFSET ${offset}`.pipe(Effect.orDie, read)
      const hasMore = rows.length > limit
      const page = hasMore ? rows.slice(0, limit) : rows
      const last = page[page.length - 1]
      const reply: SearchReply = {
        logs: page.map(toOut(projectId)),
        hasMore,
        nextCursor: hasMore && last !== undefined ? encodeCursor({ time: last.time, id: last.id }) : null,
        limit
      }
      if (!useOffset) return reply
      const total = yield* estimate(whereClauses(sql, organizationId, projectId, params))
      return { ...reply, offset, total: Math.max(total, offset + page.length + (hasMore ? 1 : 0)) }
    })

    const estimate = (clauses: ReadonlyArray<ReturnType<typeof sql.and>>) =>
      sql<{
        readonly "QUERY PLAN": ReadonlyArray<{ readonly Plan: { readonly "Plan Rows": number } }>
      }>`EXPLAIN (FORMAT JSON)
        SELECT 1 FROM logs WHERE ${sql.and(clauses)}`.pipe(
        Effect.map((rows) => Math.round(rows[0]?.["QUERY PLAN"][0]?.Plan["Plan Rows"] ?? 0)),
        Effect.orDie,
        read
      )

    const stats = Effect.fn("Logs.stats")(function* (params: StatsParams) {
      const to = params.to ?? new Date()
      const from = params.from ?? new Date(to.getTime() - 24 * 3600_000)
      yield* checkRange({ from, to })
      const interval = bucketSeconds(from, to, params.interval)
      if (Either.isLeft(interval)) return yield* new InvalidQuery({ message: interval.left })
      const seconds = interval.right
      return yield* scope.within(params.projectId, (s) => statsIn(s, { ...params, from, to }, seconds))
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
        FROM logs WHERE ${sql.and(clauses)} GROUP BY 1, 2 ORDER BY 1`.pipe(Effect.orDie, read)
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

    return { search, stats, trace } as const
  })
}) {}

const toOut =
  (projectId: string) =>
  (r: Row): LogOut => ({
    // API.md: ids are opaque strings with a type prefix (the cursor keeps the row's own id)
    id: `log_${r.id}`,
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
