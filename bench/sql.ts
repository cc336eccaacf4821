/**
 * Storage costs, measured side by side in one run on one fresh, migrated database:
 *   1. EXPLAIN ANALYZE of each search shape with and without the index meant for it (docs/storage.md);
 *   2. row-level security on ingest (1,000-row `INSERT … unnest` batches) and on search pages: the app role in
 *      `Tenant.transaction` / `Tenant.read` against the owner (no policy) in the same transaction shape;
 *   3. the sqlcommenter comment on a one-row statement: with it, transformer disabled, and outside a context.
 *   npx tsx bench/sql.ts        (BENCH_SQL_ROWS, default 300000; BENCH_SQL_ROUNDS, default 7; BENCH_SQL_KEEP=1
 *                                keeps the bench_sql database for inspection)
 * Cases are interleaved round by round and the median round is reported (2-core noisy machine).
 */
import { SqlClient, Statement } from "@effect/sql"
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { RequestContext } from "../src/RequestContext.js"
import { clientLayer, ReadSql } from "../src/Sql/Client.js"
import { sqlCommenter } from "../src/Sql/Comment.js"
import { Tenant } from "../src/Sql/Tenant.js"
import { appUrlOf, makeRow, serverUrl, withClient } from "./logs-support.js"
import { failUnlessPositive, sized } from "./smoke.js"
import { ctxFor, DAY, dbUrl, explainAll, now, RARE, ROUNDS, ROWS, setup } from "./sql-support.js"

// ---------------------------------------------------------------- 2 and 3. timed cases
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

const batch = (k: number) => {
  const n = 1000
  const rows = Array.from({ length: n }, (_, i) => makeRow(ROWS + k * n + i, { projects: 1, now, days: 1 }))
  return {
    time: rows.map((r) => r.time.toISOString()),
    service: rows.map((r) => r.service),
    level: rows.map((r) => r.level),
    message: rows.map((r) => r.message),
    metadata: rows.map((r) => r.metadata)
  }
}

const insertBatch = (sql: SqlClient.SqlClient, b: ReturnType<typeof batch>, ctx: ReturnType<typeof ctxFor>) =>
  sql`INSERT INTO logs (time, organization_id, project_id, service, level, message, metadata)
    SELECT u.t, ${ctx.organizationId}, ${ctx.projectId}, u.s, u.l, u.m, u.md::jsonb
    FROM unnest(${b.time}::timestamptz[], ${b.service}::text[], ${b.level}::text[], ${b.message}::text[],
                ${b.metadata}::text[]) AS u(t, s, l, m, md)`

const page = (sql: SqlClient.SqlClient, ctx: ReturnType<typeof ctxFor>, extra: Statement.Fragment) =>
  sql`SELECT id::text, time, service, level, message, metadata FROM logs
    WHERE organization_id = ${ctx.organizationId} AND project_id = ${ctx.projectId} ${extra}
    ORDER BY logs.time DESC, logs.id DESC LIMIT 101`

/** The owner's transaction of the same shape as Tenant's (BEGIN, set_config, statement, COMMIT), minus the policy. */
const ownerTx = <A, E, R>(owner: SqlClient.SqlClient, ctx: ReturnType<typeof ctxFor>, effect: Effect.Effect<A, E, R>) =>
  owner.withTransaction(
    Effect.zipRight(owner`SELECT set_config('threadline.organization_id', ${ctx.organizationId}, true)`, effect)
  )

type Case = {
  readonly name: string
  readonly ops: number
  readonly run: Effect.Effect<unknown, unknown, never>
  /** Runs before and after the timed part (not measured). */
  readonly around?: { readonly before: Effect.Effect<void>; readonly after: Effect.Effect<void> }
}

const timed = (cases: ReadonlyArray<Case>) =>
  Effect.gen(function* () {
    const samples = cases.map(() => [] as Array<number>)
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, c] of cases.entries()) {
        if (c.around) yield* c.around.before
        const t0 = performance.now()
        yield* c.run
        samples[i]!.push(((performance.now() - t0) * 1000) / c.ops)
        if (c.around) yield* c.around.after
      }
    }
    return cases.map((c, i) => ({ name: c.name, us: median(samples[i]!) }))
  })

const report = (title: string, rows: ReadonlyArray<{ name: string; us: number }>, base: number) => {
  const ref = rows[base]?.us ?? NaN
  console.log(`\n## ${title}\n\n| case | µs per op | ratio to "${rows[base]?.name}" |\n|---|---|---|`)
  for (const r of rows) console.log(`| ${r.name} | ${r.us.toFixed(1)} | ${(r.us / ref).toFixed(3)} |`)
  for (const r of rows) failUnlessPositive(r.us, r.name)
}

const measure = Effect.gen(function* () {
  const app = yield* SqlClient.SqlClient
  const read = yield* ReadSql
  const owner = yield* PgClient.make({ url: Redacted.make(dbUrl), maxConnections: 2 })
  const ctx = ctxFor(3)
  // ingestion goes to a project of its own, so the searched project keeps the loaded shape
  const ingestCtx = ctxFor(99)
  const BATCHES = sized(undefined, 20, 2)
  const batches = Array.from({ length: BATCHES }, (_, k) => batch(k))
  const ingestRun = <R>(f: (b: ReturnType<typeof batch>) => Effect.Effect<unknown, unknown, R>) =>
    Effect.forEach(batches, (b) => f(b), { discard: true })
  const ingest = yield* timed([
    {
      name: "RLS on: app role, Tenant.transaction",
      ops: BATCHES * 1000,
      run: ingestRun((b) => Tenant.transaction(insertBatch(app, b, ingestCtx))).pipe(
        RequestContext.withContext(ingestCtx),
        Effect.provideService(SqlClient.SqlClient, app),
        Effect.orDie
      )
    },
    {
      name: "RLS off: owner, same transaction shape",
      ops: BATCHES * 1000,
      run: ingestRun((b) => ownerTx(owner, ingestCtx, insertBatch(owner, b, ingestCtx))).pipe(
        RequestContext.withContext(ingestCtx),
        Effect.orDie
      )
    },
    {
      name: "owner, bare INSERT (no transaction, no set_config)",
      ops: BATCHES * 1000,
      run: ingestRun((b) => insertBatch(owner, b, ingestCtx)).pipe(RequestContext.withContext(ingestCtx), Effect.orDie)
    }
  ])
  report("Ingest: 1,000-row unnest batches (per row)", ingest, 1)

  const day = new Date(now - DAY)
  const searches = [
    { name: "recent page", extra: app.literal("") },
    { name: "level=error 24 h", extra: app`AND level = ANY(${["error"]}::text[]) AND time >= ${day}` },
    {
      name: "full text, common word, 24 h",
      extra: app`AND to_tsvector('simple', message) @@ websearch_to_tsquery('simple', 'refused') AND time >= ${day}`
    },
    {
      name: "full text, rare term, whole retention",
      extra: app`AND to_tsvector('simple', message) @@ websearch_to_tsquery('simple', ${RARE})`
    }
  ]
  const N = sized(undefined, 20, 3)
  const searchCases: Array<Case> = searches.flatMap((s) => [
    {
      name: `${s.name}, RLS on (Tenant.read)`,
      ops: N,
      run: Effect.forEach(Array.from({ length: N }), () => Tenant.read(page(read, ctx, s.extra)), {
        discard: true
      }).pipe(RequestContext.withContext(ctx), Effect.provideService(ReadSql, read), Effect.orDie)
    },
    {
      name: `${s.name}, RLS off (owner, same shape)`,
      ops: N,
      run: Effect.forEach(Array.from({ length: N }), () => ownerTx(owner, ctx, page(owner, ctx, s.extra)), {
        discard: true
      }).pipe(RequestContext.withContext(ctx), Effect.orDie)
    }
  ])
  const leakproof = (on: boolean) =>
    Effect.promise(() =>
      withClient(dbUrl, (c) =>
        c.query(`ALTER FUNCTION pg_catalog.to_tsvector(regconfig, text) ${on ? "" : "NOT "}LEAKPROOF;
          ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) ${on ? "" : "NOT "}LEAKPROOF;`)
      )
    ).pipe(Effect.asVoid)
  const rare = searches[searches.length - 1]!
  searchCases.push({
    name: `${rare.name}, RLS on, WITHOUT migration 0005 (not leakproof)`,
    ops: 2,
    run: Effect.forEach([1, 2], () => Tenant.read(page(read, ctx, rare.extra)), { discard: true }).pipe(
      RequestContext.withContext(ctx),
      Effect.provideService(ReadSql, read),
      Effect.orDie
    ),
    around: { before: leakproof(false), after: leakproof(true) }
  })
  const search = yield* timed(searchCases)
  for (let i = 0; i < searches.length; i++) {
    const rows = search.slice(2 * i, 2 * i + 2)
    if (i === searches.length - 1) rows.push(search[search.length - 1]!)
    report(`Search: ${searches[i]?.name} (per page of 100)`, rows, 1)
  }

  const M = sized(undefined, 2000, 100)
  const one = Effect.forEach(
    Array.from({ length: M }, (_, i) => i),
    (i) => app`SELECT ${i}::int AS i`,
    { discard: true }
  )
  const comment = yield* timed([
    { name: "in a context, commented", ops: M, run: one.pipe(RequestContext.withContext(ctx), Effect.orDie) },
    {
      name: "in a context, transformer disabled",
      ops: M,
      run: Statement.withTransformerDisabled(one).pipe(RequestContext.withContext(ctx), Effect.orDie)
    },
    { name: "no context (no comment)", ops: M, run: Effect.orDie(one) }
  ])
  report("sqlcommenter: one-row SELECT on a pooled connection (per statement)", comment, 1)

  // the CPU the transformer adds to building a statement, without the round trip that hides it above
  const K = sized(undefined, 50_000, 2_000)
  const span = yield* Effect.makeSpan("bench")
  const build = (commented: boolean) =>
    Effect.withFiberRuntime<void>((fiber) => {
      const refs = fiber.getFiberRefs()
      for (let i = 0; i < K; i++) {
        const st = app`SELECT ${i}::int AS i FROM logs WHERE project_id = ${"prj_x"}`
        ;(commented ? Effect.runSync(sqlCommenter(st, app, refs, span)) : st).compile()
      }
      return Effect.void
    }).pipe(RequestContext.withContext(ctx))
  const cpu = yield* timed([
    { name: "build + compile, commented", ops: K, run: build(true) },
    { name: "build + compile, no comment", ops: K, run: build(false) }
  ])
  report("sqlcommenter: CPU per statement, no I/O", cpu, 1)
})

const main = async () => {
  await setup()
  await explainAll()
  await Effect.runPromise(
    Effect.scoped(measure).pipe(
      Effect.provide(Reactivity.layer),
      Effect.provide(
        ReadSql.fromPrimary.pipe(
          Layer.provideMerge(
            clientLayer({
              url: Redacted.make(appUrlOf(dbUrl)),
              poolSize: 2,
              statementTimeoutMs: 60_000,
              applicationName: "bench-sql"
            })
          )
        )
      ),
      Effect.orDie
    )
  )
  if (process.env.BENCH_SQL_KEEP !== "1") {
    await withClient(serverUrl, (c) => c.query("DROP DATABASE IF EXISTS bench_sql WITH (FORCE)"))
  }
}

await main()
