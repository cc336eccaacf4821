/**
 * The read routes beside search: aggregated stats, one entry by its public id, the entries around one (same project
 * and service) and the services of a project. Each runs as search does (LogsQuery.scoped): resolved project, per-org
 * gate, query quota, statements in the tenant read transaction under the statement timeout; every reply is bounded.
 */
import { Effect, Option } from "effect"
import { LEVELS, type Level } from "./Entry.js"
import { type Filters, whereClauses } from "./Filters.js"
import { InvalidQuery } from "./QueryTypes.js"
import { LogsQuery, type Row, TIME_TEXT } from "./Query.js"
import {
  AGGREGATE_INTERVALS,
  type AggregateInterval,
  type AggregatedReply,
  type ContextReply,
  DEFAULT_CONTEXT,
  LogNotFound,
  MAX_AGGREGATE_BUCKETS,
  MAX_CONTEXT,
  MAX_SERVICES,
  type ServicesReply,
  TOP_LIMIT
} from "./ReadTypes.js"
import { ReadSql } from "../Sql/Client.js"

export interface AggregatedParams {
  readonly projectId?: string | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  readonly interval?: AggregateInterval | undefined
  readonly services?: ReadonlyArray<string> | undefined
}

export interface ContextParams {
  readonly projectId?: string | undefined
  readonly id: string
  readonly before?: number | undefined
  readonly after?: number | undefined
}

export interface ServicesParams {
  readonly projectId?: string | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  readonly limit?: number | undefined
}

const DAY_MS = 24 * 3600_000
const COLUMNS = `id::text AS id, ${TIME_TEXT} AS time, service, level, message, metadata, trace_id, span_id,
  session_id, false AS has_next`

/** `to` defaults to now, `from` to a day before `to`; `from` after `to` is refused. */
const rangeOf = (p: { readonly from?: Date | undefined; readonly to?: Date | undefined }) => {
  const to = p.to ?? new Date()
  const from = p.from ?? new Date(to.getTime() - DAY_MS)
  return from.getTime() > to.getTime()
    ? Effect.fail(InvalidQuery.of("from", "must not be after to"))
    : Effect.succeed({ from, to })
}

export class LogsRead extends Effect.Service<LogsRead>()("Logs/Read", {
  effect: Effect.gen(function* () {
    const sql = yield* ReadSql
    const query = yield* LogsQuery
    const notFound = (id: string) => new LogNotFound({ message: `log ${id} not found` })

    const aggregated = Effect.fn("Logs.aggregated")(function* (params: AggregatedParams) {
      const { from, to } = yield* rangeOf(params)
      const seconds = AGGREGATE_INTERVALS[params.interval ?? "1h"]
      const buckets = Math.ceil(Math.max(1, (to.getTime() - from.getTime()) / 1000) / seconds)
      if (buckets > MAX_AGGREGATE_BUCKETS) {
        return yield* InvalidQuery.of(
          "interval",
          `the range would have ${buckets} buckets, more than ${MAX_AGGREGATE_BUCKETS}; widen the interval or narrow the range`
        )
      }
      const filters: Filters = { from, to, services: params.services }
      return yield* query.scoped(params.projectId, ({ organizationId, projectId }) => {
        const where = () => whereClauses(sql, organizationId, projectId, filters)
        const series = sql<{ readonly bucket: number; readonly level: Level; readonly count: number }>`SELECT
            extract(epoch FROM date_bin(${seconds} * interval '1 second', time, 'epoch'::timestamptz))::float8
              AS bucket,
            level, count(*)::int AS count
          FROM logs WHERE ${sql.and(where())} GROUP BY 1, 2 ORDER BY 1`
        const services = sql<{ readonly service: string; readonly count: number }>`SELECT service,
            count(*)::int AS count
          FROM logs WHERE ${sql.and(where())} GROUP BY service ORDER BY 2 DESC, service LIMIT ${TOP_LIMIT}`
        const errors = sql<{ readonly message: string; readonly count: number }>`SELECT message,
            count(*)::int AS count
          FROM logs WHERE ${sql.and([...where(), sql`level IN ('error', 'critical')`])}
          GROUP BY message ORDER BY 2 DESC, message LIMIT ${TOP_LIMIT}`
        return Effect.map(query.read(Effect.all([series, services, errors])), ([rows, top, errs]) => ({
          timeseries: seriesOf(rows),
          top_services: top.map((r) => ({ service: r.service, count: r.count })),
          top_errors: errs.map((r) => ({ message: r.message, count: r.count }))
        }))
      })
    })

    /** The row a public id stands for in this project; anything that is not one of its ids is not found. */
    const rowOf = (organizationId: string, projectId: string, publicId: string) =>
      Effect.flatMap(
        Option.match(query.ids.decode(publicId), {
          onNone: () => Effect.succeed<ReadonlyArray<Row>>([]),
          onSome: (id) =>
            query.read(sql<Row>`SELECT ${sql.literal(COLUMNS)} FROM logs
              WHERE ${sql.and([...whereClauses(sql, organizationId, projectId, {}), sql`id = ${id}::bigint`])}
              LIMIT 1`)
        }),
        (rows) => (rows[0] === undefined ? Effect.fail(notFound(publicId)) : Effect.succeed(rows[0]))
      )

    const byId = (projectId: string | undefined, publicId: string) =>
      query
        .scoped(projectId, (s) => Effect.map(rowOf(s.organizationId, s.projectId, publicId), query.toOut(s.projectId)))
        .pipe(Effect.withSpan("Logs.byId"))

    const context = (params: ContextParams) =>
      query
        .scoped(params.projectId, ({ organizationId, projectId }) =>
          Effect.gen(function* () {
            const anchor = yield* rowOf(organizationId, projectId, params.id)
            const n = (v: number | undefined) => Math.min(Math.max(Math.trunc(v ?? DEFAULT_CONTEXT), 0), MAX_CONTEXT)
            const same = [...whereClauses(sql, organizationId, projectId, {}), sql`service = ${anchor.service}`]
            const at = sql`(${anchor.time}::timestamptz, ${anchor.id}::bigint)`
            const [before, after] = yield* query.read(
              Effect.all([
                sql<Row>`SELECT ${sql.literal(COLUMNS)} FROM logs WHERE ${sql.and([...same, sql`(time, id) < ${at}`])}
                  ORDER BY logs.time DESC, logs.id DESC LIMIT ${n(params.before)}`,
                sql<Row>`SELECT ${sql.literal(COLUMNS)} FROM logs WHERE ${sql.and([...same, sql`(time, id) > ${at}`])}
                  ORDER BY logs.time ASC, logs.id ASC LIMIT ${n(params.after)}`
              ])
            )
            const out = query.toOut(projectId)
            return {
              before: [...before].reverse().map(out),
              log: out(anchor),
              after: after.map(out)
            } satisfies ContextReply
          })
        )
        .pipe(Effect.withSpan("Logs.context"))

    const services = Effect.fn("Logs.services")(function* (params: ServicesParams) {
      const { from, to } = yield* rangeOf(params)
      const limit = Math.min(Math.max(Math.trunc(params.limit ?? MAX_SERVICES), 1), MAX_SERVICES)
      return yield* query.scoped(params.projectId, ({ organizationId, projectId }) =>
        Effect.map(
          query.read(sql<{ readonly service: string; readonly count: number }>`SELECT service, count(*)::int AS count
            FROM logs WHERE ${sql.and(whereClauses(sql, organizationId, projectId, { from, to }))}
            GROUP BY service ORDER BY 2 DESC, service LIMIT ${limit}`),
          (rows): ServicesReply => ({ services: rows.map((r) => ({ service: r.service, count: r.count })) })
        )
      )
    })

    return { aggregated, byId, context, services } as const
  })
  // no dependencies of its own: it must share the application's LogsQuery (one search gate per process)
}) {}

/** One item per bucket holding entries, oldest first, every level counted (zero included). */
const seriesOf = (
  rows: ReadonlyArray<{ readonly bucket: number; readonly level: Level; readonly count: number }>
): AggregatedReply["timeseries"] => {
  const byBucket = new Map<number, Record<Level, number>>()
  for (const r of rows) {
    const counts = byBucket.get(r.bucket) ?? { debug: 0, info: 0, warn: 0, error: 0, critical: 0 }
    counts[r.level] += r.count
    byBucket.set(r.bucket, counts)
  }
  return [...byBucket.entries()]
    .sort(([a], [b]) => a - b)
    .map(([t, by_level]) => ({
      bucket: new Date(t * 1000).toISOString(),
      total: LEVELS.reduce((n, l) => n + by_level[l], 0),
      by_level
    }))
}
