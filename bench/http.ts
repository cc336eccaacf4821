/**
 * HTTP throughput, side by side in one run (docs/performance.md, "HTTP platform"): raw `node:http` answering a
 * fixed JSON body, Threadline's `GET /health`, and a small authenticated route (`GET /probe/any`: API key through
 * the cached credential lookup, RequestContext provided, the context echoed as JSON). Each server runs in its own
 * process (the Threadline one with its access log on, to /dev/null); autocannon (50 connections) runs in this one.
 * The same two routes are also served by the platform's own wiring (`HttpApiBuilder.serve` on `NodeHttpServer`)
 * for comparison, and two decomposition rows split `/health`'s cost: Threadline's answer writer without any Effect,
 * and the node wiring with one fiber per request around a constant answer (see `serveWiring`). Rounds alternate between the targets; medians and ratios are printed, with the server process's
 * CPU time per request, which is steadier than req/s on a shared machine.
 *   DATABASE_URL=… REDIS_URL=… npx tsx bench/http.ts     (BENCH_SECONDS per round, default 5; BENCH_ROUNDS, default 3)
 * `npx tsx bench/http.ts --serve raw|threadline|platform` is a server process (it reports its port over IPC);
 * BENCH_NODE_FLAGS adds node flags to the server processes (e.g. `--single-threaded-gc`).
 */
import { randomBytes } from "node:crypto"
import { type ChildProcess, fork } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import autocannon from "autocannon"
import { Effect, Layer, Option } from "effect"
import * as AccessLog from "../src/Http/AccessLog.js"
import { makeHandlers } from "../src/Http/NodeHandler.js"
import { makeWriter } from "../src/Http/NodeResponse.js"
import * as RequestId from "../src/Http/RequestId.js"
import { RequestStateData } from "../src/Http/RequestState.js"
import { makeSecurity } from "../src/Http/Security.js"
import { JsonLoggerLive } from "../src/Logging.js"
import { seed } from "../test/Http/support/TestCredentials.js"
import { testServer } from "../test/Http/support/TestServer.js"
import { failIf, failUnlessPositive, sized, SMOKE } from "./smoke.js"

const SECONDS = sized("BENCH_SECONDS", 5, 1)
const ROUNDS = sized("BENCH_ROUNDS", 3, 1)
const CONNECTIONS = 50

/** Server processes answer "cpu" with their CPU time so far (µs), so each round also yields CPU per request. */
const answerCpu = () =>
  process.on("message", (m) => {
    if (m === "cpu") {
      const c = process.cpuUsage()
      process.send?.({ cpu: c.user + c.system })
    }
  })

interface Ready {
  readonly port: number
  readonly key?: string
}

/** `withHeaders`: the same answer with the headers Threadline sends (security headers, request id). */
const serveRaw = (withHeaders: boolean) => {
  answerCpu()
  const body = JSON.stringify({ status: "ok" })
  const extra = withHeaders
    ? {
        ...makeSecurity({
          corsOrigins: [],
          hstsMaxAgeSeconds: Option.none(),
          maxBodyBytes: 0,
          maxJsonBodyBytes: 0,
          discardMaxBytes: 0,
          discardMaxMs: 0,
          requestTimeoutMs: 0,
          exposeStack: false
        }).baseHeaders
      }
    : {}
  const server = createServer((_req, res) => {
    const headers: Record<string, string> = { ...extra, "content-type": "application/json" }
    headers["content-length"] = String(Buffer.byteLength(body))
    if (withHeaders) headers["x-request-id"] = RequestId.mint()
    res.writeHead(200, headers)
    res.end(body)
  })
  server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port } satisfies Ready))
}

const benchSecurity = {
  corsOrigins: [],
  hstsMaxAgeSeconds: Option.none(),
  maxBodyBytes: 10 * 1024 * 1024,
  maxJsonBodyBytes: 16 * 1024,
  discardMaxBytes: 64 * 1024 * 1024,
  discardMaxMs: 5_000,
  requestTimeoutMs: 30_000,
  exposeStack: false
}

/**
 * Where /health's time goes, as two servers on Threadline's own pieces: `wiring-nofiber` answers with the writer
 * every answer goes through (security headers, request id from the header or minted, trace id, access log line) but
 * no Effect at all; `wiring-fiber` is the real node wiring (NodeHandler.ts: request state, Context, one fiber per
 * request, timeout entry, abort listener, the answer written at the end of the fiber) around a route that answers a
 * constant JSON body, i.e. without the HttpApi handler machinery (decoding, group Context merge, Schema encoding of
 * the answer, middleware map) that `/health` goes through.
 */
const serveWiring = (withFiber: boolean) => {
  answerCpu()
  const accessLog = AccessLog.stdoutSink()
  const body = JSON.stringify({ status: "ok" })
  if (!withFiber) {
    const security = makeSecurity(benchSecurity)
    const writer = makeWriter(security, accessLog, { maxBytes: 64 * 1024 * 1024, maxMs: 5_000 })
    const server = createServer((req, res) => {
      const state = new RequestStateData(
        RequestId.fromHeader(req.headers["x-request-id"]),
        RequestId.traceparentFor(req.headers.traceparent),
        performance.now()
      )
      state.route = "/health"
      writer.write(req, res, state, 200, { ...security.baseHeaders, "content-type": "application/json" }, body)
    })
    server.listen(0, "127.0.0.1", () =>
      process.send?.({ port: (server.address() as AddressInfo).port } satisfies Ready)
    )
    return
  }
  const response = HttpServerResponse.unsafeJson({ status: "ok" })
  const program = Effect.gen(function* () {
    const handlers = yield* makeHandlers({ security: benchSecurity, accessLog }, () => ({
      app: Effect.succeed(response),
      route: undefined,
      params: {},
      searchParams: {}
    }))
    const server = createServer(handlers.request)
    yield* Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void)))
    process.send?.({ port: (server.address() as AddressInfo).port } satisfies Ready)
    return yield* Effect.never
  })
  NodeRuntime.runMain(Effect.scoped(program), { disablePrettyLogger: true })
}

const serveThreadline = (platformWiring: boolean) => {
  answerCpu()
  // As deployed: production settings (no docs routes), access log on (to /dev/null here).
  const server = testServer({
    label: "bench",
    accessLog: AccessLog.stdoutSink(),
    platformWiring,
    config: {
      THREADLINE_ENV: "production",
      THREADLINE_SECRET_KEY: randomBytes(32).toString("hex"),
      // the rate-limit step runs (a Redis round trip per authenticated request) but never refuses during a round
      THREADLINE_RATE_LIMIT_ORG_PER_MINUTE: "1000000000",
      THREADLINE_RATE_LIMIT_KEY_PER_MINUTE: "1000000000"
    }
  })
  const announce = Effect.gen(function* () {
    const http = yield* HttpServer.HttpServer
    const fx = yield* seed
    const port = http.address._tag === "TcpAddress" ? http.address.port : 0
    process.send?.({ port, key: fx.keys.full } satisfies Ready)
    return yield* Effect.never
  })
  NodeRuntime.runMain(Effect.provide(announce, Layer.merge(server.layer, JsonLoggerLive)), {
    disablePrettyLogger: true
  })
}

/** Every server process forked, so that a failure stops them all, also those still starting. */
const started: Array<ChildProcess> = []

const start = (role: string) =>
  new Promise<{ child: ChildProcess; ready: Ready }>((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--serve", role], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      execArgv: [...(process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter((f) => f !== ""), "--import", "tsx"]
    })
    started.push(child)
    child.once("message", (ready) => resolve({ child, ready: ready as Ready }))
    child.once("exit", (code) => reject(new Error(`${role} server exited with ${code}`)))
  })

const cpuOf = (child: ChildProcess) =>
  new Promise<number>((resolve) => {
    const onMessage = (m: unknown) => {
      if (typeof m === "object" && m !== null && "cpu" in m) {
        child.off("message", onMessage)
        resolve((m as { cpu: number }).cpu)
      }
    }
    child.on("message", onMessage)
    child.send("cpu")
  })

const load = async (child: ChildProcess, url: string, headers: Record<string, string>) => {
  const before = await cpuOf(child)
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers })
  const cpu = (await cpuOf(child)) - before
  failIf(
    result.errors > 0 || result.non2xx > 0 || result.timeouts > 0,
    `${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`
  )
  failUnlessPositive(result.requests.total, url)
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuPerRequest: cpu / Math.max(1, result.requests.total)
  }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

const main = async () => {
  try {
    await measure(start)
  } finally {
    for (const child of started) child.kill("SIGTERM")
  }
}

const measure = async (up: typeof start) => {
  // started together: most of their start-up is loading modules, which overlaps with the database set-up
  const [raw, rawHeaders, nofiber, fiber, tl, platform] = await Promise.all([
    up("raw"),
    up("raw-headers"),
    up("wiring-nofiber"),
    up("wiring-fiber"),
    up("threadline"),
    up("platform")
  ])
  const targets = [
    {
      name: "raw node:http, fixed JSON",
      child: raw.child,
      url: `http://127.0.0.1:${raw.ready.port}/health`,
      headers: {}
    },
    {
      name: "raw node:http with Threadline's response headers",
      child: rawHeaders.child,
      url: `http://127.0.0.1:${rawHeaders.ready.port}/health`,
      headers: {}
    },
    {
      name: "Threadline's writer, no Effect (headers, request id, access log)",
      child: nofiber.child,
      url: `http://127.0.0.1:${nofiber.ready.port}/health`,
      headers: {}
    },
    {
      name: "Threadline's node wiring + one fiber, constant answer (no HttpApi handler)",
      child: fiber.child,
      url: `http://127.0.0.1:${fiber.ready.port}/health`,
      headers: {}
    },
    { name: "Threadline GET /health", child: tl.child, url: `http://127.0.0.1:${tl.ready.port}/health`, headers: {} },
    {
      name: "Threadline API key route",
      child: tl.child,
      url: `http://127.0.0.1:${tl.ready.port}/probe/any`,
      headers: { "x-api-key": tl.ready.key ?? "" }
    },
    {
      name: "same Api on the platform's wiring, GET /health",
      child: platform.child,
      url: `http://127.0.0.1:${platform.ready.port}/health`,
      headers: {}
    },
    {
      name: "same Api on the platform's wiring, API key route",
      child: platform.child,
      url: `http://127.0.0.1:${platform.ready.port}/probe/any`,
      headers: { "x-api-key": platform.ready.key ?? "" }
    }
  ]
  // warm-up (the smoke run's single short round is its own warm-up)
  if (!SMOKE) for (const t of targets) await load(t.child, t.url, t.headers)
  const runs = targets.map(() => ({
    rps: [] as Array<number>,
    p50: [] as Array<number>,
    p99: [] as Array<number>,
    cpu: [] as Array<number>
  }))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      const r = await load(t.child, t.url, t.headers)
      runs[i]!.rps.push(r.rps)
      runs[i]!.p50.push(r.p50)
      runs[i]!.p99.push(r.p99)
      runs[i]!.cpu.push(r.cpuPerRequest)
    }
  }
  const base = median(runs[0]!.rps)
  const baseCpu = median(runs[0]!.cpu)
  console.log(
    `${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS}s, medians; load average ${loadavg()[0]?.toFixed(1)}`
  )
  console.log(
    "| target | req/s | ratio to raw | server CPU µs/req | CPU ratio (raw/x) | p50 ms | p99 ms | req/s per round |\n|---|---|---|---|---|---|---|---|"
  )
  for (const [i, t] of targets.entries()) {
    const r = runs[i]!
    const rps = median(r.rps)
    const cpu = median(r.cpu)
    console.log(
      `| ${t.name} | ${Math.round(rps)} | ${(rps / base).toFixed(2)} | ${cpu.toFixed(1)} | ${(baseCpu / cpu).toFixed(2)} | ${median(r.p50)} | ${median(r.p99)} | ${r.rps.map(Math.round).join(" / ")} |`
    )
  }
}

const role = process.argv[2] === "--serve" ? process.argv[3] : undefined
if (role === "raw") serveRaw(false)
else if (role === "raw-headers") serveRaw(true)
else if (role === "wiring-nofiber") serveWiring(false)
else if (role === "wiring-fiber") serveWiring(true)
else if (role === "threadline") serveThreadline(false)
else if (role === "platform") serveThreadline(true)
else await main()
