/**
 * Server process for bench/ingest.ts: the logs endpoints (test/Logs/TestServer.ts: real handlers and services,
 * keys looked up in api_keys) over BENCH_DB_URL as the app role (RLS on) on BENCH_PORT.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer, Redacted } from "effect"
import { clientLayer, ReadSql } from "../src/Sql/Client.js"
import { testServerLayer } from "../test/Logs/TestServer.js"

const url = process.env.BENCH_DB_URL ?? ""
const port = Number(process.env.BENCH_PORT ?? 18181)
const db = ReadSql.fromPrimary.pipe(
  Layer.provideMerge(
    clientLayer({ url: Redacted.make(url), poolSize: 8, statementTimeoutMs: 60_000, applicationName: "bench-ingest" })
  ),
  Layer.orDie
)
NodeRuntime.runMain(Layer.launch(testServerLayer(db, port)), { disablePrettyLogger: true })
