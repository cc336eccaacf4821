/**
 * Ingestion throughput through the HTTP API against raw COPY into the same table, in one run.
 *   npm run bench -- ingest      (or `npx tsx bench/ingest.ts` with DATABASE_URL and REDIS_URL set)
 *   BENCH_ENTRIES (default 1,000,000, the size), BENCH_CLIENTS (4), BENCH_COPY_STREAMS (2)
 * 1. a fresh migrated database (the real schema: RLS on, GIN full-text index); Threadline itself started on it as
 *    a separate process (`src/main.ts serve --roles api`: the application's server, authentication, handlers and
 *    pools, connecting as the app role);
 * 2. BENCH_ENTRIES entries POSTed to /api/v1/ingest in batches of 1,000 by BENCH_CLIENTS concurrent clients
 *    (bodies are built before the clock starts, so the clients cost little CPU on this machine);
 * 3. the table is emptied and the same rows are loaded with raw COPY (as the owner: COPY FROM is refused under
 *    RLS, so this is the ceiling the API cannot use) into the same table, same indexes;
 * 4. logs/s of both and the ratio (goal: ≥ 0.6).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { loadavg } from "node:os"
import { appUrlOf, BENCH_KEY, copyRows, freshDatabase, makeRow, type Row, withClient } from "./logs-support.js"
import { failUnlessPositive, sized } from "./smoke.js"

const ENTRIES = sized("BENCH_ENTRIES", 1_000_000, 5_000)
const BATCH = 1000
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4)
const COPY_STREAMS = Number(process.env.BENCH_COPY_STREAMS ?? 2)
const PORT = Number(process.env.BENCH_PORT ?? 18181)
const KEY = BENCH_KEY

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const startServer = async (dbUrl: string): Promise<ChildProcess> => {
  // node itself (not npx) so that the SIGTERM below reaches the server and not a wrapper.
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "serve", "--roles", "api"], {
    env: {
      ...process.env,
      DATABASE_URL: appUrlOf(dbUrl),
      DATABASE_OWNER_URL: dbUrl,
      REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6390",
      THREADLINE_QUEUE_PREFIX: `bench-ingest-${randomBytes(4).toString("hex")}`,
      THREADLINE_MIGRATE_ON_START: "false",
      PORT: String(PORT),
      HOST: "127.0.0.1",
      LOG_LEVEL: "WARN"
    },
    stdio: ["ignore", "ignore", "inherit"]
  })
  for (let i = 0; i < 300; i++) {
    const up = await fetch(`http://127.0.0.1:${PORT}/api/v1/logs?limit=1`, { headers: { "x-api-key": KEY } })
      .then((r) => r.ok)
      .catch(() => false)
    if (up) return child
    await sleep(200)
  }
  child.kill("SIGTERM")
  throw new Error("the server did not start")
}

const entryOf = (r: Row) => ({
  time: r.time.toISOString(),
  service: r.service,
  level: r.level,
  message: r.message,
  metadata: JSON.parse(r.metadata) as unknown,
  ...(r.traceId === null ? {} : { trace_id: r.traceId })
})

const main = async () => {
  const url = await freshDatabase("ingest", { projects: 1, days: 1 })
  const shape = { projects: 1, now: Date.now(), days: 1 }
  // Every entry goes to prj_bench0 (the key's project), so the COPY side writes the same rows there.
  const row = (i: number): Row => ({ ...makeRow(i, shape), project: 0 })
  const bodies: Array<string> = []
  for (let b = 0; b < ENTRIES / BATCH; b++) {
    bodies.push(JSON.stringify({ logs: Array.from({ length: BATCH }, (_, k) => entryOf(row(b * BATCH + k))) }))
  }
  const server = await startServer(url)
  try {
    let next = 0
    let received = 0
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let b = next++; b < bodies.length; b = next++) {
          const body = bodies[b] ?? ""
          const res = await fetch(`http://127.0.0.1:${PORT}/api/v1/ingest`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-api-key": KEY },
            body
          })
          const reply = (await res.json()) as { received?: number }
          if (!res.ok || reply.received !== BATCH) throw new Error(`batch ${b}: ${res.status} ${JSON.stringify(reply)}`)
          received += reply.received
        }
      })
    )
    const apiSeconds = (performance.now() - t0) / 1000
    const apiLoad = loadavg()[0] ?? 0
    const stored = await withClient(url, (c) => c.query<{ n: number }>("SELECT count(*)::int AS n FROM logs"))
    if (stored.rows[0]?.n !== ENTRIES || received !== ENTRIES) throw new Error("entries were lost")
    await withClient(url, (c) => c.query("TRUNCATE logs"))
    const t1 = performance.now()
    await copyRows(url, 0, ENTRIES, COPY_STREAMS, (i) => ({ ...row(i), project: 0 }))
    const copySeconds = (performance.now() - t1) / 1000
    const copyLoad = loadavg()[0] ?? 0
    failUnlessPositive(copySeconds, "raw COPY")
    const api = ENTRIES / apiSeconds
    const copy = ENTRIES / copySeconds
    console.log(
      `entries: ${ENTRIES}, batches of ${BATCH}, ${CLIENTS} concurrent clients; COPY streams: ${COPY_STREAMS}`
    )
    console.log(`POST /api/v1/ingest: ${Math.round(api)} logs/s (${apiSeconds.toFixed(1)} s)`)
    console.log(`raw COPY, same table: ${Math.round(copy)} logs/s (${copySeconds.toFixed(1)} s)`)
    console.log(`ratio: ${(api / copy).toFixed(2)} (goal ≥ 0.6)`)
    console.log(
      `1-minute load average after each phase: API ${apiLoad.toFixed(2)}, COPY ${copyLoad.toFixed(2)} (2 cores)`
    )
  } finally {
    server.kill("SIGTERM")
  }
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
