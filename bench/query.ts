/**
 * Search latency over a realistic volume: BENCH_ROWS (default 5,000,000) entries over 100 projects and 30 days,
 * then p50/p95 of five searches run through the LogsQuery service (the code the HTTP handlers call), each under an
 * API-key context of the searched project.
 *   npx tsx bench/query.ts            (BENCH_ROWS=500000 for a quick run)
 * Loading is raw COPY with the indexes dropped and then recreated from their own definitions, so the queries see
 * exactly the indexes the schema defines.
 */
import { loadavg } from "node:os"
import { Effect, Layer, Redacted } from "effect"
import { LogsConfig } from "../src/Logs/LogsConfig.js"
import { ProjectScope } from "../src/Logs/ProjectScope.js"
import { LogsQuery, type SearchParams } from "../src/Logs/Query.js"
import { Quota } from "../src/Logs/Quota.js"
import { RequestLimiter } from "../src/Http/RequestLimiter.js"
import { type ApiKeyId, type OrganizationId, type ProjectId, RequestContext } from "../src/RequestContext.js"
import { clientLayer, ReadSql } from "../src/Sql/Client.js"
import { appUrlOf, copyRows, freshDatabase, makeRow, orgOf, percentile, withIndexesDropped } from "./logs-support.js"
import { failIf, failUnlessPositive, sized } from "./smoke.js"

const ROWS = sized("BENCH_ROWS", 5_000_000, 20_000)
const PROJECTS = 100
const DAYS = 30
const RUNS = sized("BENCH_RUNS", 40, 3)
const WORDS = ["timeout", "payment", "refused", "cache", "retry", "database", "checkout", "upstream"]

const context = (project: number) =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "apiKey", apiKeyId: "key_bench" as ApiKeyId },
    organizationId: orgOf(project) as OrganizationId,
    projectId: `prj_bench${project}` as ProjectId
  })

const measure = (now: number, traceIds: ReadonlyArray<{ project: number; traceId: string }>) =>
  Effect.gen(function* () {
    const query = yield* LogsQuery
    const day = 86_400_000
    const cases: ReadonlyArray<{ name: string; params: (k: number) => SearchParams }> = [
      { name: "last 15 minutes of one project", params: () => ({ from: new Date(now - 15 * 60_000) }) },
      { name: "level=error over 24 h", params: () => ({ from: new Date(now - day), levels: ["error"] }) },
      { name: "one service over 24 h", params: (k) => ({ from: new Date(now - day), services: [`svc-${k % 8}`] }) },
      { name: "full-text over 24 h", params: (k) => ({ from: new Date(now - day), q: WORDS[k % WORDS.length] }) },
      { name: "a trace id", params: () => ({}) }
    ]
    console.log("| query | p50 ms | p95 ms | rows returned (median) | 1-min load after |\n|---|---|---|---|---|")
    for (const c of cases) {
      const times: Array<number> = []
      const counts: Array<number> = []
      for (let k = 0; k < RUNS + 5; k++) {
        const trace = traceIds[k % traceIds.length]
        const isTrace = c.name === "a trace id" && trace !== undefined
        const project = isTrace ? trace.project : (k * 37 + 11) % PROJECTS
        const run = isTrace ? query.trace(trace.traceId, {}) : query.search(c.params(k))
        const t0 = performance.now()
        const reply = yield* run.pipe(RequestContext.withContext(context(project)))
        // The first five runs warm the caches and are not counted.
        if (k >= 5) {
          times.push(performance.now() - t0)
          counts.push(reply.logs.length)
        }
      }
      failUnlessPositive(percentile(times, 50), c.name)
      // every run looks up a trace id that exists: it finds at least its row
      failIf(c.name === "a trace id" && Math.min(...counts) < 1, `${c.name}: a run found no rows`)
      const p = (n: number) => percentile(times, n).toFixed(1)
      const load = (loadavg()[0] ?? 0).toFixed(2)
      console.log(`| ${c.name} | ${p(50)} | ${p(95)} | ${percentile(counts, 50)} | ${load} |`)
    }
  })

const run = async () => {
  const url = await freshDatabase("query", { projects: PROJECTS, days: DAYS })
  const now = Date.now()
  const shape = { projects: PROJECTS, now, days: DAYS }
  const t0 = performance.now()
  await withIndexesDropped(url, () => copyRows(url, 0, ROWS, 2, (i) => makeRow(i, shape)))
  console.log(
    `loaded ${ROWS} rows over ${PROJECTS} projects and ${DAYS} days in ${((performance.now() - t0) / 1000).toFixed(0)} s`
  )
  const traceIds: Array<{ project: number; traceId: string }> = []
  for (let i = 0; traceIds.length < 50 && i < ROWS; i += 7919) {
    const row = makeRow(i, shape)
    if (row.traceId !== null) traceIds.push({ project: row.project, traceId: row.traceId })
  }
  const Services = LogsQuery.Default.pipe(
    Layer.provide(ProjectScope.Default),
    Layer.provide(Layer.mergeAll(Quota.allowAll, RequestLimiter.allowAll, LogsConfig.Default)),
    // as the app role, like the server: every search runs in a Tenant.read transaction under RLS
    Layer.provide(
      ReadSql.fromPrimary.pipe(
        Layer.provide(
          clientLayer({
            url: Redacted.make(appUrlOf(url)),
            poolSize: 4,
            statementTimeoutMs: 60_000,
            applicationName: "bench"
          })
        ),
        Layer.orDie
      )
    )
  )
  await Effect.runPromise(measure(now, traceIds).pipe(Effect.provide(Services)))
}

run().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
