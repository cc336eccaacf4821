/**
 * PROVISIONAL server process for bench/ingest.ts: the logs endpoints (test/Logs/TestServer.ts) over BENCH_DB_URL on
 * BENCH_PORT, until the real `threadline serve --roles api` can be started with a real API key.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Layer, Redacted } from "effect"
import { testServerLayer } from "../test/Logs/TestServer.js"

const url = process.env.BENCH_DB_URL ?? ""
const port = Number(process.env.BENCH_PORT ?? 18181)
const db = PgClient.layer({ url: Redacted.make(url), maxConnections: 8 }).pipe(Layer.orDie)
NodeRuntime.runMain(Layer.launch(testServerLayer(db, port)), { disablePrettyLogger: true })
