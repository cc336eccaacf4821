/**
 * Graceful shutdown of the api role in a real child process: requests in flight when SIGTERM arrives are answered
 * in full and their data is stored; the listener is closed at once, so a new connection is refused while those
 * requests are still running; the process exits 0.
 *
 * "In flight" is made certain rather than timed: each request is sent with `Expect: 100-continue`, so the client
 * knows the server has parsed its headers (node answers `100 Continue` from the request's own connection), and only
 * half of its body is written before SIGTERM; the rest follows after the listener has closed.
 */
import { request } from "node:http"
import { connect } from "node:net"
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Redacted, Schedule } from "effect"
import { mintApiKey } from "../../src/Tenancy/Tokens.js"
import { seededDatabase } from "../Logs/Fixtures.js"
import { cleanup, redisUrl, uniquePrefix } from "../Queue/Support.js"
import { asOwner, TestDatabaseInfo } from "../support/Database.js"
import { freePort, spawnMain } from "./Support.js"

const prefix = uniquePrefix("shutdown")
afterAll(() => cleanup(prefix))

/** Requests in flight at SIGTERM, and entries in each. */
const REQUESTS = 6
const ENTRIES = 2_000

const batch = (request: number, entries: number): Buffer =>
  Buffer.from(
    JSON.stringify({
      logs: Array.from({ length: entries }, (_, i) => ({
        service: "shutdown-test",
        level: "info",
        message: `request ${request} entry ${i}`,
        metadata: { request, i }
      }))
    })
  )

interface Reply {
  readonly status: number
  readonly body: string
}

/**
 * An ingest request whose headers are sent at once; `started` resolves when the server has answered
 * `100 Continue` and the first half of the body is written; `finish()` writes the rest.
 */
const inFlightIngest = (port: number, key: string, body: Buffer) => {
  let finish = () => {}
  let started = (_: void) => {}
  const startedP = new Promise<void>((resolve) => (started = resolve))
  const reply = new Promise<Reply>((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/api/v1/ingest",
      agent: false,
      headers: {
        "content-type": "application/json",
        "content-length": String(body.length),
        "x-api-key": key,
        expect: "100-continue"
      }
    })
    req.on("error", reject)
    req.on("continue", () => {
      const half = Math.floor(body.length / 2)
      req.write(body.subarray(0, half), () => started())
      finish = () => req.end(body.subarray(half))
    })
    req.on("response", (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("error", reject)
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
    })
    req.flushHeaders()
  })
  return { started: startedP, finish: () => finish(), reply }
}

/** Whether a TCP connection to the port is refused (no request is sent on a connection that succeeds). */
const refused = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", (e: NodeJS.ErrnoException) => resume(Effect.succeed(e.code === "ECONNREFUSED")))
  })

/** A write key of tenant a (test/Logs/Fixtures.ts seeds org_a / prj_a), minted and stored as the API would. */
const writeKey = Effect.gen(function* () {
  const minted = mintApiKey()
  yield* asOwner((c) =>
    c.query(
      "INSERT INTO api_keys (id, organization_id, project_id, name, type, key_hash, prefix) VALUES ($1, 'org_a', 'prj_a', 'shutdown', 'write', $2, $3)",
      ["key_shutdown", minted.hash, minted.prefix]
    )
  )
  return Redacted.value(minted.secret)
})

const storedEntries = asOwner((c) =>
  c.query<{ n: string }>("SELECT count(*) AS n FROM logs WHERE project_id = 'prj_a' AND service = 'shutdown-test'")
).pipe(Effect.map((r) => Number(r.rows[0]?.n)))

describe("threadline serve --roles api (child process)", () => {
  layer(seededDatabase("shutdown"), { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "SIGTERM loses no in-flight request: each is answered 2xx in full and stored; new connections are refused",
      () =>
        Effect.gen(function* () {
          const info = yield* TestDatabaseInfo
          const key = yield* writeKey
          const port = yield* Effect.promise(freePort)
          const main = yield* spawnMain(["serve", "--roles", "api"], {
            DATABASE_URL: info.appUrl,
            DATABASE_OWNER_URL: info.ownerUrl,
            REDIS_URL: redisUrl(),
            THREADLINE_QUEUE_PREFIX: prefix,
            THREADLINE_SHUTDOWN_TIMEOUT_MS: "30000",
            PORT: String(port)
          })
          yield* main.line((l) => l.msg === "threadline ready")
          // the same path once before the test proper: the key works and the pools are warm
          const warm = inFlightIngest(port, key, batch(-1, 1))
          yield* Effect.promise(() => warm.started)
          warm.finish()
          const warmReply = yield* Effect.promise(() => warm.reply)
          expect(warmReply.status, warmReply.body).toBe(200)

          const requests = Array.from({ length: REQUESTS }, (_, r) => inFlightIngest(port, key, batch(r, ENTRIES)))
          yield* Effect.promise(() => Promise.all(requests.map((r) => r.started)))
          main.child.kill("SIGTERM")

          // the listener closes while every request above is still unanswered (their bodies are incomplete)
          yield* refused(port).pipe(
            Effect.filterOrFail(
              (isRefused) => isRefused,
              () => "still accepting"
            ),
            Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))),
            Effect.orDie
          )
          expect(main.child.exitCode).toBeNull()
          expect(main.child.signalCode).toBeNull()

          for (const r of requests) r.finish()
          const replies = yield* Effect.promise(() => Promise.all(requests.map((r) => r.reply)))
          expect(replies.map((r) => r.status)).toEqual(Array.from({ length: REQUESTS }, () => 200))
          expect(replies.map((r) => (JSON.parse(r.body) as { received: number }).received)).toEqual(
            Array.from({ length: REQUESTS }, () => ENTRIES)
          )
          expect(yield* main.exited).toBe(0)
          expect(main.lines.some((l) => l.msg === "threadline shutting down")).toBe(true)
          expect(yield* storedEntries).toBe(1 + REQUESTS * ENTRIES)
          expect(yield* refused(port)).toBe(true)
        }).pipe(Effect.scoped),
      120_000
    )
  })
})
